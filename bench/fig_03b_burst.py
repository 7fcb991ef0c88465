"""Figure 3b, burst: one session prints 100,000 lines at once; its subscriber must have the last one within
1.5x the time the agent took to print them.

The agent prints as fast as orcha takes its lines (as a program writing to a pipe does: orcha's reading paces
it). Its time runs from its first line to its last (the stamps in the lines); the subscriber's from the first
line's stamp to reading the last line.
"""

from __future__ import annotations

import pathlib
import tempfile

import trio

from bench._agents import Plan
from bench._harness import ServeProcess, print_and_follow
from bench._result import Result

FIGURE = "3b"
TITLE = "burst"
TARGET = "≤ 1.5"
SIZE = 100


async def _measure(root: pathlib.Path, lines: int) -> dict[str, float]:
    server = ServeProcess(root, root / "orcha.db", printers=True)
    await server.start()
    try:
        _, [log] = await print_and_follow(server, [Plan(lines=lines, size=SIZE, tag="burst")])
    finally:
        await server.stop()
    assert log.first_stamp is not None
    return {
        "lines": lines,
        "delivered": len(log.latencies),
        "gaps": log.gaps,
        "agent_seconds": log.last_stamp - log.first_stamp,
        "delivered_seconds": log.last_read - log.first_stamp,
    }


def run(smoke: bool) -> Result:
    lines = 5_000 if smoke else 100_000
    with tempfile.TemporaryDirectory(prefix="orcha-bench-") as tmp:
        measured = trio.run(_measure, pathlib.Path(tmp), lines)
    agent, delivered = measured["agent_seconds"], measured["delivered_seconds"]
    ratio = delivered / agent if agent > 0 else float("inf")
    complete = measured["delivered"] == lines and measured["gaps"] == 0
    return Result(
        figure=FIGURE,
        title=TITLE,
        orcha=delivered,
        baseline=agent,
        ratio=ratio,
        unit="s",
        target=TARGET,
        passed=ratio <= 1.5 and complete,
        notes=f"{lines:,} lines of {SIZE} chars; the agent printed {lines / agent:,.0f} lines/s"
        + ("" if complete else "; NOT every line was delivered"),
        metrics=measured,
    )
