"""Figure 3, stream latency: 200 sessions print 20 lines/s each; how long from the agent writing a line to an
SSE client reading it (p99).

orcha runs as ``orcha serve`` with the printing agents; one SSE reader per session in the benchmark's process.
Each line carries the agent's ``time.time()`` at the moment it handed the line over; the reader subtracts it
from its own clock when the bytes arrive (one machine, one clock). Sessions start spread over one line's
interval, as independent agents would be, not all on the same instants.
"""

from __future__ import annotations

import pathlib
import tempfile

import trio

from bench._agents import Plan
from bench._harness import ServeProcess, percentile, print_and_follow
from bench._result import Result

FIGURE = "3"
TITLE = "stream latency"
TARGET = "p99 ≤ 25 ms"
RATE = 20.0
SIZE = 100


async def _measure(root: pathlib.Path, sessions: int, seconds: float) -> dict[str, float]:
    server = ServeProcess(root, root / "orcha.db", printers=True, extra=["--max-managers", str(sessions + 8)])
    await server.start()
    try:
        lines = int(seconds * RATE)
        plans = [
            Plan(lines=lines, rate=RATE, size=SIZE, tag=str(i), phase=(i / sessions) / RATE) for i in range(sessions)
        ]
        _, logs = await print_and_follow(server, plans)
    finally:
        await server.stop()
    latencies = [latency for log in logs for latency in log.latencies]
    return {
        "sessions": sessions,
        "lines": len(latencies),
        "expected_lines": sessions * lines,
        "gaps": sum(log.gaps for log in logs),
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p90_ms": percentile(latencies, 0.90) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "max_ms": max(latencies) * 1000,
    }


def run(smoke: bool) -> Result:
    sessions, seconds = (20, 2.0) if smoke else (200, 20.0)
    with tempfile.TemporaryDirectory(prefix="orcha-bench-") as tmp:
        measured = trio.run(_measure, pathlib.Path(tmp), sessions, seconds)
    p99 = measured["p99_ms"]
    complete = measured["lines"] == measured["expected_lines"] and measured["gaps"] == 0
    return Result(
        figure=FIGURE,
        title=TITLE,
        orcha=p99,
        baseline=None,
        ratio=None,
        unit="ms",
        target=TARGET,
        passed=p99 <= 25 and complete,
        orcha_text=f"p99 {p99:,.0f} ms (p50 {measured['p50_ms']:,.0f})",
        notes=f"{sessions} sessions x {RATE:.0f} lines/s for {seconds:.0f} s"
        + ("" if complete else "; NOT every line was delivered"),
        metrics=measured,
    )
