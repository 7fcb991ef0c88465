"""Figure 10, team throughput: 50 objectives at once, each a fake manager that plans, spawns three workers,
waits for its team and marks the objective done; each worker works, records a note and completes. Capacity
is large enough for all. Baseline: the same agent work with orcha's overhead removed, i.e. the fake agents'
scripted time (the manager's planning, then its workers' work, all objectives at once), slept in the same
run. The figure is orcha's overhead: elapsed / scripted - 1.

orcha runs in the benchmark's process (its orchestrator on a real store file, wall-clock time), because the
agents are scripted in Python (:class:`orcha.agents.fake.FakeProvider`).
"""

from __future__ import annotations

import pathlib
import tempfile
import time
from collections.abc import Sequence

import trio

from bench._baselines import rows
from bench._inproc import private_homes, running
from bench._result import Result
from orcha.agents.contract import StartRequest
from orcha.agents.fake import AwaitTeam, Call, Complete, Say, ScriptFactory, Step, Wait
from orcha.model import SessionRole

FIGURE = "10"
TITLE = "team throughput"
TARGET = "overhead ≤ 10%"
WORKERS = 3
_STATUSES_SQL = "SELECT status, COUNT(*) FROM objectives GROUP BY status"


def _scripts(plan_seconds: float, work_seconds: float) -> ScriptFactory:
    def script(request: StartRequest) -> Sequence[Step]:
        if request.role is SessionRole.MANAGER:
            return [
                Say("Planning the objective: three independent parts."),
                Wait(plan_seconds),
                *(Call("spawn_session", {"prompt": f"part {n}"}) for n in range(WORKERS)),
                AwaitTeam(poll_seconds=None),  # woken by the team's notices, as a manager that ends its turn
                Call("mark_objective_done", {"summary": "{team}"}),
                Complete("objective done"),
            ]
        return [
            Say("Reading the code."),
            Wait(work_seconds),
            Call("create_note", {"text": f"{request.prompt}: done"}),
            Complete("part done"),
        ]

    return script


async def _orcha(root: pathlib.Path, objectives: int, plan_seconds: float, work_seconds: float) -> float:
    from orcha.agents.fake import FakeProvider
    from orcha.model import ObjectiveStatus

    provider = FakeProvider(_scripts(plan_seconds, work_seconds), name="claude")
    async with running(root, {"claude": provider}, slots=objectives * WORKERS, managers=objectives) as orcha:
        started = time.perf_counter()

        async def create(n: int) -> None:
            await orcha.operations.create_objective(title=f"team {n}", prompt="go", agent="claude")

        async with trio.open_nursery() as nursery:
            for n in range(objectives):
                nursery.start_soon(create, n)
        with trio.fail_after(300):
            while True:  # on a connection of its own, off the trio thread: the clock is not orcha's work
                statuses = dict(await trio.to_thread.run_sync(rows, root / "orcha.db", _STATUSES_SQL))
                if statuses.get(str(ObjectiveStatus.DONE), 0) == objectives:
                    break
                if any(ObjectiveStatus(s).is_terminal and s != ObjectiveStatus.DONE for s in statuses):
                    raise RuntimeError(f"an objective did not finish done: {statuses}")
                await trio.sleep(0.02)
        return time.perf_counter() - started


async def _scripted(objectives: int, plan_seconds: float, work_seconds: float) -> float:
    """The agents' own time: every manager plans, then its workers work, all at once."""

    async def objective() -> None:
        await trio.sleep(plan_seconds)
        async with trio.open_nursery() as workers:
            for _ in range(WORKERS):
                workers.start_soon(trio.sleep, work_seconds)

    started = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for _ in range(objectives):
            nursery.start_soon(objective)
    return time.perf_counter() - started


def run(smoke: bool) -> Result:
    objectives, plan_seconds, work_seconds = (5, 0.2, 0.5) if smoke else (50, 1.0, 4.0)
    with tempfile.TemporaryDirectory(prefix="orcha-bench-") as tmp:
        root = pathlib.Path(tmp)
        with private_homes(root):
            elapsed = trio.run(_orcha, root, objectives, plan_seconds, work_seconds)
    scripted = trio.run(_scripted, objectives, plan_seconds, work_seconds)
    overhead = elapsed / scripted - 1
    return Result(
        figure=FIGURE,
        title=TITLE,
        orcha=elapsed,
        baseline=scripted,
        ratio=elapsed / scripted,
        unit="s",
        target=TARGET,
        passed=overhead <= 0.10,
        orcha_text=f"{elapsed:.2f} s (+{overhead:.0%})",
        notes=(
            f"{objectives} objectives x (a manager + {WORKERS} workers); scripted {plan_seconds:g} s planning +"
            f" {work_seconds:g} s work; each manager ends its turn to wait for its team and looks at it when a"
            " team notice wakes it"
        ),
        metrics={"objectives": objectives, "sessions": objectives * (WORKERS + 1), "overhead": overhead},
    )
