"""A session's agent run and the pump that feeds its events into the session actor's inbox.

The pump reads one event each time the actor asks (:meth:`AgentRunPump.want`), so nothing is read ahead of a
decision the actor makes (a pause, a steer, the end). Plain output (a line of text, a tool call) needs no
decision: while the actor wants, the pump hands each such event to ``take_output`` as it comes and reads on, so
a line costs no trip through the inbox. Each run has a generation number; when a run is
closed, its process group is killed and what it still delivers for a moment (a completion racing the cancel)
arrives tagged with the old generation, so the actor records it as dropped instead of applying it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import attrs
import trio

from orcha.agents.contract import AgentEvent, AgentRun

LATE_EVENT_GRACE = 1.0
YIELD_EVERY = 256
"""Plain output events a pump takes in a row before it lets the other tasks run (a pipe read of 64 KiB
holds some 600 lines, handed over without a checkpoint between them)."""


@attrs.frozen
class AgentItem:
    """An event of the agent run number ``generation``."""

    generation: int
    event: AgentEvent


@attrs.frozen
class RunClosed:
    """Run number ``generation`` delivers no more events."""

    generation: int


class AgentRunPump:
    """Holds the session's current run (at most one) and pumps its events to ``put``, on demand."""

    def __init__(
        self,
        put: Callable[[AgentItem | RunClosed], None],
        take_output: Callable[[int, AgentEvent], bool] = lambda generation, event: False,
        room: Callable[[], Awaitable[None]] | None = None,
        full: Callable[[], bool] = lambda: True,
    ) -> None:
        self._put = put
        self._take_output = take_output
        self._room = room
        self._full = full
        """Whether ``room`` would wait (else it is not awaited)."""
        self.run: AgentRun | None = None
        self.generation = 0
        self._pumps = 0
        self._idle = trio.Event()
        self._scopes: dict[int, trio.CancelScope] = {}
        self._demand = trio.Semaphore(0)
        self._asked = False

    def open(self, run: AgentRun, nursery: trio.Nursery) -> None:
        """Make ``run`` the current run and start pumping its events (in ``nursery``)."""
        self.run = run
        self.generation += 1
        self._demand, self._asked = trio.Semaphore(0), False  # a fresh run has been asked for nothing yet
        self._pumps += 1
        self._idle = trio.Event()
        # the pump's scope and demand exist from now: a run closed before its pump first runs is stopped all
        # the same, and a late pump never takes the next run's demand
        self._scopes[self.generation] = scope = trio.CancelScope()
        nursery.start_soon(self._pump, run.events(), self.generation, self._demand, scope)

    def want(self) -> None:
        """Let the current run's pump read one more event (if it is not reading one already)."""
        if not self._asked and self.run is not None:
            self._asked = True
            self._demand.release()

    async def close(self, *, wait_late: bool = False, leave_running: bool = False) -> None:
        """Stop the current run (its whole process group); its later events count as late. With
        ``wait_late``, give them a moment to arrive, so a completion racing the end is recorded as dropped.
        With ``leave_running`` (orcha is stopping), a run that can be re-adopted later (a tmux pane) is only
        let go of, its program left running, and one that cannot is stopped the quick way if it has one."""
        run, self.run = self.run, None
        pump = self._scopes.get(self.generation)
        self.generation += 1
        if run is not None:
            stop = run.cancel
            if leave_running:
                stop = getattr(run, "detach", None) or getattr(run, "interrupt", None) or run.cancel
            with trio.CancelScope(shield=True):
                await stop()
        if pump is not None:
            pump.cancel()
        if wait_late and self._pumps:
            with trio.move_on_after(LATE_EVENT_GRACE):
                await self._idle.wait()

    async def _pump(
        self, events: AsyncIterator[AgentEvent], generation: int, demand: trio.Semaphore, scope: trio.CancelScope
    ) -> None:
        try:
            with scope:
                while True:
                    await demand.acquire()
                    try:
                        event = await events.__anext__()
                        taken = 0
                        while self._take_output(generation, event):  # taken as it came; the actor still wants
                            taken += 1
                            if taken % YIELD_EVERY == 0:  # a burst read at once lets the rest run now and then
                                await trio.lowlevel.checkpoint()
                            if self._room is not None and self._full():
                                await self._room()  # (the transcript's writer is behind: wait for its commit)
                            event = await events.__anext__()
                    except StopAsyncIteration:
                        self._put(RunClosed(generation))
                        return
                    finally:
                        if generation == self.generation:  # (a closed run's pump leaves the next run's alone)
                            self._asked = False
                    self._put(AgentItem(generation, event))
            with trio.move_on_after(LATE_EVENT_GRACE):  # closed: what the run still delivers is late
                async for event in events:
                    self._put(AgentItem(generation, event))
        finally:
            del self._scopes[generation]
            self._pumps -= 1
            if not self._pumps:
                self._idle.set()
