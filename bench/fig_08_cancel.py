"""Figure 8, cancel: from the cancel request to the whole process group gone, for an agent process that
dies on SIGTERM (cooperative) and for one that ignores it (only SIGKILL, after the grace, ends it). Targets:
p99 at most 50 ms (cooperative); at most the grace + 50 ms (ignoring).

orcha runs in the benchmark's process with Codex's real provider and the local executor; the agent is a
trivial program (:mod:`bench._programs`) that starts a child in its group and writes both pids down. A thread
watches the two pids from the request on (a process that is gone or a zombie counts as gone) while the
request goes through ``Operations.cancel_session``, as the API's cancel does. The grace is the Codex run's.
"""

from __future__ import annotations

import pathlib
import tempfile
import time

import trio

from bench._agents import IDLE, Printer, plan_prompt
from bench._harness import percentile
from bench._inproc import private_homes, running
from bench._programs import fake_codex
from bench._result import Result
from orcha.actors.orchestrator import Orchestrator

FIGURE = "8"
TITLE = "cancel"
TARGET = "p99 ≤ 50 ms; ≤ grace + 50 ms"
GRACE = 3.0
"""What :meth:`orcha.agents.codex.CodexRun.cancel` gives a process between SIGTERM and SIGKILL."""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:  # gone meanwhile (ENOENT, or ESRCH while reading)
        return False


def _watch(pids: list[int], deadline: float) -> float:
    """Poll (in a thread) until none of ``pids`` lives; the moment it saw so (``perf_counter``)."""
    while time.perf_counter() < deadline:
        if not any(_alive(pid) for pid in pids):
            return time.perf_counter()
        time.sleep(0.0002)
    raise TimeoutError(f"processes {pids} still alive")


async def _pids(path: pathlib.Path) -> list[int]:
    file = trio.Path(path)
    with trio.fail_after(60):
        while not await file.exists():  # noqa: ASYNC110 - the agent program writes it
            await trio.sleep(0.005)
    return [int(line) for line in (await file.read_text()).split()]


async def _watch_into(gone: list[float], pids: list[int], deadline: float) -> None:
    gone.append(await trio.to_thread.run_sync(_watch, pids, deadline))


async def _cancels(
    orcha: Orchestrator, objective_id: str, root: pathlib.Path, mode: str, count: int, batch: int
) -> list[float]:
    took = []
    for first in range(0, count, batch):
        sessions = []
        for n in range(first, min(count, first + batch)):
            pidfile = root / f"{mode}-{n}.pids"
            session = await orcha.operations.spawn_session(objective_id, prompt=f"{mode} {pidfile}", agent="codex")
            sessions.append((session.id, pidfile))
        ready = [(session_id, await _pids(pidfile)) for session_id, pidfile in sessions]
        for session_id, pids in ready:
            requested = time.perf_counter()
            gone: list[float] = []
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_watch_into, gone, pids, requested + GRACE + 30)
                await orcha.operations.cancel_session(session_id, "bench")
            took.append(gone[0] - requested)
    return took


async def _measure(
    root: pathlib.Path, program: pathlib.Path, cooperative: int, ignoring: int
) -> dict[str, list[float]]:
    from orcha.agents.codex import CodexOptions, CodexProvider

    providers = {"claude": Printer("claude"), "codex": CodexProvider(CodexOptions(binary=str(program)))}
    async with running(root, providers, slots=16, managers=2) as orcha:
        objective, _ = await orcha.operations.create_objective(title="cancel", prompt=plan_prompt(IDLE), agent="claude")
        return {
            "cooperative": await _cancels(orcha, objective.id, root, "hang", cooperative, 10),
            "ignoring": await _cancels(orcha, objective.id, root, "ignore", ignoring, 10),
        }


def run(smoke: bool) -> Result:
    cooperative, ignoring = (5, 1) if smoke else (100, 5)
    with tempfile.TemporaryDirectory(prefix="orcha-bench-") as tmp:
        root = pathlib.Path(tmp)
        program = fake_codex(root)
        with private_homes(root):
            measured = trio.run(_measure, root, program, cooperative, ignoring)
    coop_p99 = percentile(measured["cooperative"], 0.99) * 1000
    ignore_p99 = percentile(measured["ignoring"], 0.99) * 1000
    return Result(
        figure=FIGURE,
        title=TITLE,
        orcha=coop_p99,
        baseline=None,
        ratio=None,
        unit="ms",
        target=TARGET,
        passed=coop_p99 <= 50 and ignore_p99 <= GRACE * 1000 + 50,
        orcha_text=f"p99 {coop_p99:,.1f} ms; ignoring {ignore_p99:,.0f} ms",
        baseline_text=f"grace {GRACE * 1000:,.0f} ms",
        notes=f"{cooperative} cooperative and {ignoring} SIGTERM-ignoring agent processes (each a shell and a child)",
        metrics={
            "cooperative_p50_ms": percentile(measured["cooperative"], 0.5) * 1000,
            "cooperative_p99_ms": coop_p99,
            "ignoring_p50_ms": percentile(measured["ignoring"], 0.5) * 1000,
            "ignoring_p99_ms": ignore_p99,
            "grace_ms": GRACE * 1000,
        },
    )
