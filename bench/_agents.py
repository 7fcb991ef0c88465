"""The benchmarks' agent: a provider whose runs print lines, as a program printing to its pipe does.

What a session prints comes from its prompt, ``bench {json plan}`` (:func:`plan_prompt`), so a plan crosses
into an ``orcha serve`` process (:mod:`bench._serve`) the way any prompt does. A printer reports no usage and
calls no tool: each line is one :class:`TextOut`, stamped with the wall clock (``time.time()``) at the moment
the agent hands it over, so a reader in another process on the same machine measures agent-write → read.

A gate (a file path) holds every printer of a run until the file exists, so subscribers connect first.
"""

from __future__ import annotations

import heapq
import json
import math
import os
import time
from collections.abc import Callable

import attrs
import trio

from bench._lines import line_body
from orcha.agents.contract import (
    AgentEvent,
    Capabilities,
    ProviderSessionStarted,
    StartRequest,
    TextOut,
)

PREFIX = "bench "
PIPE_READ = 65536
"""What one read of an agent's pipe takes when the agent prints faster than orcha reads (the local
executor's ``receive_some(65536)``; a Linux pipe holds 64 KiB): a printer at full speed hands over that many
bytes of lines per checkpoint, as a real agent's pipe does, not one line per scheduling round."""


@attrs.frozen(kw_only=True)
class Plan:
    """What one session prints: ``lines`` lines (``-1``: without end) at ``rate`` lines/s (0: as fast as it
    can), each ``size`` characters, after ``gate`` (a file) exists; then it idles until canceled."""

    lines: int = 0
    rate: float = 0.0
    size: int = 100
    gate: str | None = None
    phase: float = 0.0
    """Seconds to wait after the gate opens (so sessions at a rate do not all print at the same instants)."""
    tag: str = ""


IDLE = Plan()


def plan_prompt(plan: Plan) -> str:
    return PREFIX + json.dumps(attrs.asdict(plan), separators=(",", ":"))


def parse_plan(prompt: str) -> Plan:
    if not prompt.startswith(PREFIX):
        return IDLE
    return Plan(**json.loads(prompt[len(PREFIX) :]))


_gates: dict[str, trio.Event] = {}


class _Clock:
    """One task wakes the printers whose next line is due, a millisecond tick at a time.

    Printers stand in for agents in other processes, whose lines reach orcha through pipes; ten thousand
    ``sleep_until`` a second (each a cancel-scope expiry in trio) would charge orcha's process for the agents'
    own waiting. A printer parks until its tick instead (one reschedule, cheaper than a pipe read). The ticks
    are a heap and the clock sleeps until the earliest (woken early only by an earlier one): a wake costs the
    printers it wakes, not the number of printers waiting (2,000 in figure 6)."""

    TICK = 0.001

    def __init__(self) -> None:
        self._due: dict[int, list[trio.lowlevel.Task]] = {}
        self._ticks: list[int] = []
        """The ticks in ``_due``, a heap."""
        self._wake = trio.Event()
        self._sleeping_until = math.inf
        self._root: object = None

    async def sleep_until(self, deadline: float) -> None:
        tick = math.ceil(deadline / self.TICK)
        if tick * self.TICK <= trio.current_time():
            await trio.lowlevel.checkpoint()
            return
        if self._root is not trio.lowlevel.current_root_task():  # one clock task per trio run
            self._root, self._due, self._ticks, self._sleeping_until = (
                trio.lowlevel.current_root_task(),
                {},
                [],
                math.inf,
            )
            self._wake = trio.Event()
            trio.lowlevel.spawn_system_task(self._run)
        task = trio.lowlevel.current_task()
        waiting = self._due.get(tick)
        if waiting is None:
            waiting = self._due[tick] = []
            heapq.heappush(self._ticks, tick)
            if tick < self._sleeping_until:
                self._wake.set()
        waiting.append(task)

        def abort(_: object) -> trio.lowlevel.Abort:
            waiting.remove(task)
            return trio.lowlevel.Abort.SUCCEEDED

        await trio.lowlevel.wait_task_rescheduled(abort)

    async def _run(self) -> None:
        while True:
            now = trio.current_time()
            while self._ticks and self._ticks[0] * self.TICK <= now:
                for task in self._due.pop(heapq.heappop(self._ticks)):
                    trio.lowlevel.reschedule(task)
            self._wake = trio.Event()
            self._sleeping_until = self._ticks[0] if self._ticks else math.inf
            with trio.move_on_at(self._sleeping_until * self.TICK):
                await self._wake.wait()


_clock = _Clock()


async def wait_for_gate(path: str) -> None:
    """Return once ``path`` exists; one watcher per path for the whole process (not one per printer)."""
    opened = _gates.get(path)
    if opened is None:
        opened = _gates[path] = trio.Event()
        trio.lowlevel.spawn_system_task(_watch_gate, path, opened)
    await opened.wait()


async def _watch_gate(path: str, opened: trio.Event) -> None:
    while not os.path.exists(path):  # noqa: ASYNC110, ASYNC240 - another process makes it
        await trio.sleep(0.005)
    opened.set()


class PrinterRun:
    """One printing run: ``ProviderSessionStarted``, then the plan's lines, then silence until canceled."""

    def __init__(self, plan: Plan, provider_session_id: str) -> None:
        self._plan = plan
        self._psid = provider_session_id
        self._announced = False
        self._index = 0
        self._unread = PIPE_READ  # the first line is a read of its own
        self._started_at: float | None = None
        self._stopped = trio.Event()
        self.first_stamp: float | None = None
        self.last_stamp: float | None = None

    @property
    def provider_session_id(self) -> str:
        return self._psid

    def events(self) -> PrinterRun:
        return self

    def __aiter__(self) -> PrinterRun:
        return self

    async def __anext__(self) -> AgentEvent:
        if self._stopped.is_set():
            raise StopAsyncIteration
        if not self._announced:
            self._announced = True
            return ProviderSessionStarted(provider_session_id=self._psid)
        plan = self._plan
        if plan.lines >= 0 and self._index >= plan.lines:
            await self._stopped.wait()
            raise StopAsyncIteration
        if self._started_at is None:
            if plan.gate is not None:
                await wait_for_gate(plan.gate)
            self._started_at = trio.current_time() + plan.phase
        if plan.rate > 0:
            await _clock.sleep_until(self._started_at + self._index / plan.rate)
        elif plan.phase > 0 and self._index == 0:
            await trio.sleep_until(self._started_at)
        elif self._unread >= PIPE_READ:  # a pipe read is a checkpoint, and takes all that is waiting
            self._unread = 0
            await trio.lowlevel.checkpoint()
        stamp = time.time()
        if self.first_stamp is None:
            self.first_stamp = stamp
        self.last_stamp = stamp
        body = line_body(stamp, plan.tag, self._index, plan.size)
        self._unread += len(body) + 1
        self._index += 1
        return TextOut(text=body)

    async def send(self, text: str) -> None:
        await trio.lowlevel.checkpoint()

    async def cancel(self) -> None:
        self._stopped.set()
        await trio.lowlevel.checkpoint()


class Printer:
    """A provider of printing runs; ``on_start(session_id)`` is called as each run starts (scale probes)."""

    def __init__(self, name: str = "claude", *, on_start: Callable[[str], None] | None = None) -> None:
        self.name = name
        self.capabilities = Capabilities(interactive=True, screen=False)
        self._on_start = on_start
        self.runs: dict[str, PrinterRun] = {}

    async def start(self, request: StartRequest) -> PrinterRun:
        if self._on_start is not None:
            self._on_start(request.session_id)
        await trio.lowlevel.checkpoint()
        run = self.runs[request.session_id] = PrinterRun(parse_plan(request.prompt), f"printer-{request.session_id}")
        return run

    async def resume(self, request: StartRequest, provider_session_id: str, text: str) -> PrinterRun:
        """A resumed printer (after a restart) prints nothing more."""
        await trio.lowlevel.checkpoint()
        run = self.runs[request.session_id] = PrinterRun(IDLE, provider_session_id)
        return run
