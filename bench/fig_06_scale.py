"""Figure 6, scale: 2,000 concurrent fake sessions in one process. Targets: RSS at most 400 MB, and the
scheduler's wake-to-start p99 at most 10 ms.

orcha runs in a fresh process of its own (``python -m bench.fig_06_scale --child``, so nothing else the suite
did counts in its memory): the orchestrator with its web app (every session has its MCP endpoint, as under
``orcha serve``), 20 objectives whose managers each spawn 100 workers; every worker prints a line about every
10 s, as agents that mostly think do. With all of them running, probes are spawned one at a time: each probe's
time runs from the spawn request (which wakes the scheduler) to its agent's start.
"""

from __future__ import annotations

import json
import pathlib
import random
import subprocess
import sys
import tempfile
import time

import trio

from bench._agents import IDLE, Plan, Printer, plan_prompt
from bench._harness import ROOT, percentile, private_env, rss_bytes
from bench._result import Result

FIGURE = "6"
TITLE = "scale, 2,000 sessions"
TARGET = "≤ 400 MB; p99 ≤ 10 ms"


async def _child(root: pathlib.Path, objectives: int, workers: int, probes: int) -> dict[str, float]:
    from bench._inproc import running, wait_for_count
    from orcha.model import SessionStatus

    starts: dict[str, float] = {}

    def started(session_id: str) -> None:
        starts.setdefault(session_id, time.perf_counter())

    printer = Printer("claude", on_start=started)
    total = objectives * (workers + 1)
    rss_empty = rss_bytes()
    chosen = random.Random(6)
    async with running(root, {"claude": printer}, slots=total + probes + 8, managers=objectives + 8, web=True) as orcha:
        ops = orcha.operations
        rss_started = rss_bytes()
        created = time.perf_counter()
        objective_ids = []
        for n in range(objectives):
            objective, _ = await ops.create_objective(title=f"scale {n}", prompt=plan_prompt(IDLE), agent="claude")
            objective_ids.append(objective.id)
        for objective_id in objective_ids:
            for _ in range(workers):
                plan = Plan(lines=-1, rate=0.1, size=100, phase=chosen.uniform(0, 10))
                await ops.spawn_session(objective_id, prompt=plan_prompt(plan))
        with trio.fail_after(600):
            await wait_for_count(orcha, {SessionStatus.RUNNING}, total, poll=0.2)
        created = time.perf_counter() - created
        await trio.sleep(2.0)  # settled: every session printing now and then
        waits = []
        for n in range(probes):
            requested = time.perf_counter()
            probe = await ops.spawn_session(objective_ids[n % objectives], prompt=plan_prompt(IDLE))
            with trio.fail_after(60):
                while probe.id not in starts:  # noqa: ASYNC110 - the provider's start sets it
                    await trio.sleep(0.0005)
            waits.append(starts[probe.id] - requested)
            await trio.sleep(chosen.uniform(0.02, 0.08))
        rss = rss_bytes()
        live = await orcha.db.run(lambda s: s.count_sessions({SessionStatus.RUNNING}))
    return {
        "sessions": total,
        "live_at_end": live,
        "rss_mb": rss / 2**20,
        "rss_mb_before": rss_empty / 2**20,
        "rss_mb_orchestrator_started": rss_started / 2**20,
        "setup_s": created,
        "probes": probes,
        "wake_p50_ms": percentile(waits, 0.5) * 1000,
        "wake_p99_ms": percentile(waits, 0.99) * 1000,
        "wake_max_ms": max(waits) * 1000,
    }


def run(smoke: bool) -> Result:
    argv = [sys.executable, "-m", "bench.fig_06_scale", "--child", *(["--smoke"] if smoke else [])]
    with tempfile.TemporaryDirectory(prefix="orcha-bench-") as tmp:
        env = private_env(pathlib.Path(tmp))
        done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
    if done.returncode != 0:
        raise RuntimeError(f"the scale child exited {done.returncode}: {done.stderr[-2000:]}")
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    rss, p99 = measured["rss_mb"], measured["wake_p99_ms"]
    return Result(
        figure=FIGURE,
        title=TITLE,
        orcha=rss,
        baseline=None,
        ratio=None,
        unit="MB",
        target=TARGET,
        passed=rss <= 400 and p99 <= 10,
        orcha_text=f"{rss:,.0f} MB; p99 {p99:,.1f} ms",
        notes=(
            f"{measured['sessions']:,} sessions printing a line every ~10 s, then {measured['probes']} probes"
            f" spawned one at a time (p50 {measured['wake_p50_ms']:.1f} ms)"
        ),
        metrics=measured,
    )


def child_main() -> None:
    from bench._inproc import private_homes

    smoke = "--smoke" in sys.argv
    objectives, workers, probes = (2, 24, 20) if smoke else (20, 99, 200)
    with tempfile.TemporaryDirectory(prefix="orcha-bench-") as tmp:
        root = pathlib.Path(tmp)
        with private_homes(root):
            measured = trio.run(_child, root, objectives, workers, probes)
    print(json.dumps(measured))


if __name__ == "__main__" and "--child" in sys.argv:
    child_main()
