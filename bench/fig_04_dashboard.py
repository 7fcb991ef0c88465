"""Figure 4, small dashboard: ``GET /api/dashboard`` with 1,000 sessions and 2,000,000 transcript lines,
divided by the same with no transcript lines (the same rows, each session's line count kept, the transcript
table empty), on the same machine at the same time. The response must not grow with the transcripts.

Both run as ``orcha serve`` (with printing agents, so the databases' live work stays as it is) on working
copies of cached databases (:mod:`bench._dbgen`).
"""

from __future__ import annotations

import pathlib
import tempfile

import trio

from bench import _dashboard
from bench._dbgen import Shape, cached
from bench._result import Result

FIGURE = "4"
TITLE = "small dashboard"
TARGET = "≤ 1.2, same size"


def run(smoke: bool) -> Result:
    shape = (
        Shape(objectives=20, sessions_per_objective=5, live=4, lines=200)
        if smoke
        else Shape(objectives=100, sessions_per_objective=10, live=10, lines=2000)
    )
    full, empty = cached(shape), cached(shape, seq_only=True)
    with tempfile.TemporaryDirectory(prefix="orcha-bench-") as tmp:
        measured = trio.run(
            lambda: _dashboard.compare(
                pathlib.Path(tmp),
                {"transcripts": full, "none": empty},
                live_sessions=3 * shape.live,
                requests=5 if smoke else 30,
            )
        )
    with_lines, without = measured["transcripts"], measured["none"]
    ratio = with_lines["median_s"] / without["median_s"]
    size_change = abs(with_lines["bytes"] - without["bytes"]) / without["bytes"]
    return Result(
        figure=FIGURE,
        title=TITLE,
        orcha=with_lines["median_s"] * 1000,
        baseline=without["median_s"] * 1000,
        ratio=ratio,
        unit="ms",
        target=TARGET,
        passed=ratio <= 1.2 and size_change <= 0.01,
        notes=(
            f"{shape.sessions:,} sessions, {shape.sessions * shape.lines:,} lines vs none; responses"
            f" {with_lines['bytes']:,} vs {without['bytes']:,} bytes (median of the GETs, alternating servers)"
        ),
        metrics={
            "sessions": shape.sessions,
            "lines": shape.sessions * shape.lines,
            "bytes": with_lines["bytes"],
            "bytes_baseline": without["bytes"],
            "min_ms": with_lines["min_s"] * 1000,
            "min_ms_baseline": without["min_s"] * 1000,
        },
    )
