"""Inboxes: a memory channel of envelopes; a call carries a one-shot reply channel, a cast does not.

A call never hangs: when the actor stops (or crashes), :meth:`Mailbox.close` fails every queued call, and any
later call fails at once, with :class:`ActorGone`. A call the actor was handling when it was cancelled fails
the same way (:func:`answer`).
"""

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


class ActorGone(ConflictError):
    """The actor a call was for has stopped: it took no more messages, or stopped before answering."""

    code = "actor_gone"


@attrs.frozen
class Envelope(Generic[M]):
    """A message and, for a call, where its answer goes. Envelopes are never serialized."""

    message: M
    reply: trio.MemorySendChannel[outcome.Outcome[Any]] | None = None

    def abandon(self) -> None:
        """The actor will not answer: the caller gets :class:`ActorGone` at once."""
        if self.reply is not None:
            self.reply.close()


class Mailbox(Generic[M]):
    """An actor's inbox. ``call`` waits for the answer (or the actor's exception); ``cast`` does not.

    With ``deliver``, an envelope is handed to it at once (synchronously, in the sender's task) instead of
    waiting in the mailbox's channel: for an actor that merges its messages with other input into a queue of
    its own, so no task of its has to move them there. ``deliver`` must not block or fail."""

    def __init__(self, owner: str, size: int = 256, *, deliver: Callable[[Envelope[M]], None] | None = None) -> None:
        self.owner = owner
        self._send, self._receive = trio.open_memory_channel[Envelope[M]](size)
        self._deliver = deliver
        self.closed = False

    async def call(self, message: M) -> Any:
        """Send ``message`` and wait for the answer; raises what the actor raised, or :class:`ActorGone`."""
        reply_send, reply_receive = trio.open_memory_channel[outcome.Outcome[Any]](1)
        if self._deliver is not None:
            await trio.lowlevel.checkpoint_if_cancelled()
            if self.closed:
                raise ActorGone(f"{self.owner} is not running")
            self._deliver(Envelope(message, reply_send))
        else:
            try:
                await self._send.send(Envelope(message, reply_send))
            except (trio.ClosedResourceError, trio.BrokenResourceError):
                raise ActorGone(f"{self.owner} is not running") from None
        async with reply_receive:
            try:
                result = await reply_receive.receive()
            except trio.EndOfChannel:
                raise ActorGone(f"{self.owner} stopped before answering") from None
        return result.unwrap()

    def cast(self, message: M) -> bool:
        """Deliver ``message`` without waiting; ``False`` when the actor is gone or its inbox is full."""
        if self._deliver is not None:
            if self.closed:
                return False
            self._deliver(Envelope(message))
            return True
        try:
            self._send.send_nowait(Envelope(message))
        except (trio.WouldBlock, trio.ClosedResourceError, trio.BrokenResourceError):
            return False
        return True

    def __aiter__(self) -> Mailbox[M]:
        """The envelopes, in order, until the mailbox is closed.

        A plain iterator, not an async generator: an actor that stops mid-loop leaves nothing to finalize.
        """
        return self

    async def __anext__(self) -> Envelope[M]:
        try:
            return await self._receive.receive()
        except (trio.ClosedResourceError, trio.EndOfChannel):
            raise StopAsyncIteration from None

    async def receive(self) -> Envelope[M]:
        """The next envelope; raises :class:`ActorGone` once the mailbox is closed."""
        try:
            return await self._receive.receive()
        except (trio.ClosedResourceError, trio.EndOfChannel):
            raise ActorGone(f"{self.owner} is not running") from None

    def close(self) -> None:
        """Take no more messages, and fail every queued call with :class:`ActorGone`. Idempotent."""
        self.closed = True
        self._send.close()
        while True:
            try:
                envelope = self._receive.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                break
            envelope.abandon()
        self._receive.close()


async def answer(envelope: Envelope[Any], work: Callable[[], Awaitable[R]]) -> None:
    """Run ``work`` and send its outcome (value or exception) to the caller, if it waits for one.

    If the actor is cancelled meanwhile, the caller gets :class:`ActorGone` (never the cancellation) and the
    cancellation goes on. A cast whose work fails with an unexpected error crashes the actor.
    """
    try:
        result: outcome.Outcome[R] = outcome.Value(await work())
    except Exception as exc:
        result = outcome.Error(exc)
    except BaseException:
        envelope.abandon()
        raise
    if envelope.reply is not None:
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError, trio.WouldBlock):
            envelope.reply.send_nowait(result)
        envelope.reply.close()
    elif isinstance(result, outcome.Error) and not isinstance(result.error, OrchaError):
        result.unwrap()  # a cast whose work failed unexpectedly: the actor crashes, its supervisor decides
