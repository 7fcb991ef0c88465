"""Figure 5, cold start: ``orcha serve`` on a database with 100,000 finished sessions and 5,000,000 transcript
lines, from the process's start until ``GET /api/dashboard`` answers; divided by the same on an empty
database. Target: at most 1.5x, and at most 2 s.

Both are real ``python -m orcha serve`` processes (fake agents), each database served once before the timed
starts (so both have their local target and token already, as an installed orcha has); the median of the
timed starts counts. The operating system's file cache is warm for both.
"""

from __future__ import annotations

import pathlib
import tempfile

import trio

from bench._dbgen import Shape, cached, working_copy
from bench._harness import ServeProcess, median
from bench._result import Result

FIGURE = "5"
TITLE = "cold start"
TARGET = "≤ 1.5 and ≤ 2 s"


async def _starts(folder: pathlib.Path, db: pathlib.Path, times: int) -> list[float]:
    took = []
    for attempt in range(times + 1):
        server = ServeProcess(folder, db)
        try:
            ready = await server.start()
        finally:
            await server.stop()
        if attempt:  # the first start made the local target and the token
            took.append(ready)
    return took


async def _measure(root: pathlib.Path, shape: Shape, times: int) -> dict[str, list[float]]:
    big = working_copy(cached(shape), root / "history")
    empty = root / "empty" / "orcha.db"
    result = {}
    result["empty"] = await _starts(root / "empty", empty, times)
    result["history"] = await _starts(root / "history", big, times)
    return result


def run(smoke: bool) -> Result:
    if smoke:
        shape = Shape(objectives=500, sessions_per_objective=10, live=0, lines=20, line_chars=80)
    else:
        shape = Shape(objectives=10_000, sessions_per_objective=10, live=0, lines=50, line_chars=80)
    with tempfile.TemporaryDirectory(prefix="orcha-bench-") as tmp:
        measured = trio.run(_measure, pathlib.Path(tmp), shape, 1 if smoke else 3)
    history, empty = median(measured["history"]), median(measured["empty"])
    ratio = history / empty
    return Result(
        figure=FIGURE,
        title=TITLE,
        orcha=history,
        baseline=empty,
        ratio=ratio,
        unit="s",
        target=TARGET,
        passed=ratio <= 1.5 and history <= 2.0,
        notes=(
            f"{shape.sessions:,} finished sessions, {shape.sessions * shape.lines:,} lines of {shape.line_chars}"
            f" chars, {shape.objectives * shape.prs_per_objective:,} PRs; median of {len(measured['history'])} starts"
        ),
        metrics={f"{name}_{i}": value for name, values in measured.items() for i, value in enumerate(values)},
    )
