"""Figure 7, process spawn: sessions whose agent is a trivial real program (a ``codex exec --json`` that
answers at once, :mod:`bench._programs`), started and completed per second, eight at a time; divided by raw
``trio.run_process`` of the same program, as many at a time, in the same run.

orcha runs in the benchmark's process with Codex's real provider and the local executor as ``orcha serve``
builds it (its agents marked with the database, each in its process group), only the binary swapped.
"""

from __future__ import annotations

import pathlib
import tempfile
import time

import trio

from bench._agents import IDLE, Printer, plan_prompt
from bench._baselines import count
from bench._inproc import private_homes, running
from bench._programs import fake_codex
from bench._result import Result

FIGURE = "7"
TITLE = "process spawn"
TARGET = "≥ 0.5"
AT_ONCE = 8
POLL = 0.01
_ENDED_SQL = "SELECT COUNT(*) FROM sessions WHERE role = 'worker' AND status IN ('completed', 'failed', 'canceled')"


async def _orcha(root: pathlib.Path, program: pathlib.Path, sessions: int) -> float:
    from orcha.agents.codex import CodexOptions, CodexProvider
    from orcha.model import SessionRole, SessionStatus

    database = root / "orcha.db"
    providers = {"claude": Printer("claude"), "codex": CodexProvider(CodexOptions(binary=str(program)))}
    async with running(root, providers, slots=AT_ONCE, managers=2) as orcha:
        objective, _ = await orcha.operations.create_objective(title="spawn", prompt=plan_prompt(IDLE), agent="claude")
        started = time.perf_counter()
        for _ in range(sessions):
            await orcha.operations.spawn_session(objective.id, prompt="quick", agent="codex")
        with trio.fail_after(600):  # polled on a connection of its own, off the trio thread: not orcha's work
            while await trio.to_thread.run_sync(count, database, _ENDED_SQL) < sessions:  # noqa: ASYNC110
                await trio.sleep(POLL)
        elapsed = time.perf_counter() - started
        failed = await orcha.db.run(
            lambda s: s.count_sessions({SessionStatus.FAILED, SessionStatus.CANCELED}, role=SessionRole.WORKER)
        )
        if failed:
            raise RuntimeError(f"{failed} of the {sessions} sessions did not complete")
        return elapsed


async def _raw(program: pathlib.Path, runs: int) -> float:
    limiter = trio.CapacityLimiter(AT_ONCE)

    async def one() -> None:
        async with limiter:
            await trio.run_process([str(program), "exec", "--json", "-"], stdin=b"quick", capture_stdout=True)

    started = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for _ in range(runs):
            nursery.start_soon(one)
    return time.perf_counter() - started


def run(smoke: bool) -> Result:
    sessions = 24 if smoke else 300
    with tempfile.TemporaryDirectory(prefix="orcha-bench-") as tmp:
        root = pathlib.Path(tmp)
        program = fake_codex(root)
        with private_homes(root):
            elapsed = trio.run(_orcha, root, program, sessions)
        raw = trio.run(_raw, program, sessions)
    orcha_rate, raw_rate = sessions / elapsed, sessions / raw
    ratio = orcha_rate / raw_rate
    return Result(
        figure=FIGURE,
        title=TITLE,
        orcha=orcha_rate,
        baseline=raw_rate,
        ratio=ratio,
        unit="sessions/s",
        target=TARGET,
        passed=ratio >= 0.5,
        notes=f"{sessions} sessions of a trivial program, {AT_ONCE} at a time; raw: trio.run_process",
        metrics={"sessions": sessions, "seconds": elapsed, "raw_seconds": raw},
    )
