"""Inboxes: a memory channel of envelopes; a call carries a one-shot reply channel, a cast does not."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import attrs
import outcome
import trio

from orcha.errors import ConflictError, OrchaError

M = TypeVar("M")
R = TypeVar("R")


@attrs.frozen
class Envelope(Generic[M]):
    """A message and, for a call, where its answer goes. Envelopes are never serialized."""

    message: M
    reply: trio.MemorySendChannel[outcome.Outcome[Any]] | None = None


class Mailbox(Generic[M]):
    """An actor's inbox. ``call`` waits for the answer (or the actor's exception); ``cast`` does not."""

    def __init__(self, owner: str, size: int = 256) -> None:
        self.owner = owner
        self._send, self.receive = trio.open_memory_channel[Envelope[M]](size)

    async def call(self, message: M) -> Any:
        reply_send, reply_receive = trio.open_memory_channel[outcome.Outcome[Any]](1)
        try:
            await self._send.send(Envelope(message, reply_send))
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            raise ConflictError(f"{self.owner} is not running") from None
        async with reply_receive:
            try:
                result = await reply_receive.receive()
            except trio.EndOfChannel:
                raise ConflictError(f"{self.owner} stopped before answering") from None
        return result.unwrap()

    def cast(self, message: M) -> bool:
        """Deliver ``message`` without waiting; ``False`` when the actor is gone or its inbox is full."""
        try:
            self._send.send_nowait(Envelope(message))
        except (trio.WouldBlock, trio.ClosedResourceError, trio.BrokenResourceError):
            return False
        return True

    def close(self) -> None:
        self._send.close()


async def answer(envelope: Envelope[Any], work: Callable[[], Awaitable[R]]) -> None:
    """Run ``work`` and send its outcome (value or exception) to the caller, if it waits for one."""
    result = await outcome.acapture(work)
    if envelope.reply is not None:
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError, trio.WouldBlock):
            envelope.reply.send_nowait(result)
        envelope.reply.close()
    elif isinstance(result, outcome.Error) and not isinstance(result.error, OrchaError):
        result.unwrap()  # a cast whose work failed unexpectedly: the actor crashes, its supervisor decides
