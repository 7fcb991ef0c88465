"""Inboxes: a memory channel of envelopes; a call carries a one-shot :class:`Reply`, a cast does not.

A call never hangs: when the actor stops (or crashes), :meth:`Mailbox.close` fails every queued call, and any
later call fails at once, with :class:`ActorGone`. A call the actor was handling when it was cancelled fails
the same way (:func:`answer`).
"""

from __future__ import annotations

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


class Reply:
    """A call's answer, set once by the actor and waited for by the caller: no channel, no task.

    The first answer counts (an :meth:`abandon` after it changes nothing). A caller cancelled while it waits
    leaves, and a later answer is dropped, as a reply channel's would be."""

    __slots__ = ("_owner", "_result", "_waiter")

    def __init__(self, owner: str) -> None:
        self._owner = owner
        self._result: outcome.Outcome[Any] | None = None
        self._waiter: trio.lowlevel.Task | None = None

    def send(self, result: outcome.Outcome[Any]) -> None:
        if self._result is not None:
            return
        self._result = result
        if self._waiter is not None:
            task, self._waiter = self._waiter, None
            trio.lowlevel.reschedule(task)

    def abandon(self) -> None:
        """The actor will not answer: the caller gets :class:`ActorGone`."""
        self.send(outcome.Error(ActorGone(f"{self._owner} stopped before answering")))

    async def wait(self) -> Any:
        """The answer's value, or the actor's exception (a checkpoint either way)."""
        if self._result is None:
            self._waiter = trio.lowlevel.current_task()

            def abort(_raise_cancel: Any) -> trio.lowlevel.Abort:
                self._waiter = None
                return trio.lowlevel.Abort.SUCCEEDED

            await trio.lowlevel.wait_task_rescheduled(abort)
        else:
            await trio.lowlevel.checkpoint()
        assert self._result is not None
        return self._result.unwrap()


@attrs.frozen
class Envelope(Generic[M]):
    """A message and, for a call, where its answer goes. Envelopes are never serialized."""

    message: M
    reply: Reply | None = None

    def abandon(self) -> None:
        """The actor will not answer: the caller gets :class:`ActorGone` at once."""
        if self.reply is not None:
            self.reply.abandon()


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
        reply = Reply(self.owner)
        if self._deliver is not None:
            await trio.lowlevel.checkpoint_if_cancelled()
            if self.closed:
                raise ActorGone(f"{self.owner} is not running")
            self._deliver(Envelope(message, reply))
        else:
            envelope = Envelope(message, reply)
            try:
                await trio.lowlevel.checkpoint_if_cancelled()
                try:  # room in the inbox: in at once, and the wait for the answer is the one turn given up
                    self._send.send_nowait(envelope)
                except trio.WouldBlock:  # full: wait for room (the actor is behind)
                    await self._send.send(envelope)
            except (trio.ClosedResourceError, trio.BrokenResourceError):
                raise ActorGone(f"{self.owner} is not running") from None
        return await reply.wait()

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
        envelope.reply.send(result)
    elif isinstance(result, outcome.Error) and not isinstance(result.error, OrchaError):
        result.unwrap()  # a cast whose work failed unexpectedly: the actor crashes, its supervisor decides
