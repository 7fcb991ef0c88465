"""Figure 4b, the dashboard against history: ``GET /api/dashboard`` with 100,000 finished sessions and 20,000
pull requests, divided by the same with 1,000 sessions and 800 pull requests; the same live work in both (10
active objectives, each a manager and two running workers, and an open question). The response must stay
small (≤ 128 KB) however long the history.

Both run as ``orcha serve`` (with printing agents) on working copies of cached databases, at the same time,
requests alternating.
"""

from __future__ import annotations

import pathlib
import tempfile

import trio

from bench import _dashboard
from bench._dbgen import Shape, cached
from bench._result import Result

FIGURE = "4b"
TITLE = "dashboard vs history"
TARGET = "≤ 1.2, ≤ 128 KB"
LIMIT = 128 * 1024


def run(smoke: bool) -> Result:
    if smoke:
        small = Shape(objectives=20, sessions_per_objective=5, live=4, prs_per_objective=4)
        big = Shape(objectives=200, sessions_per_objective=5, live=4, prs_per_objective=2)
    else:
        small = Shape(objectives=100, sessions_per_objective=10, live=10, prs_per_objective=8)
        big = Shape(objectives=10_000, sessions_per_objective=10, live=10, prs_per_objective=2)
    databases = {"history": cached(big), "small": cached(small)}
    with tempfile.TemporaryDirectory(prefix="orcha-bench-") as tmp:
        measured = trio.run(
            lambda: _dashboard.compare(
                pathlib.Path(tmp), databases, live_sessions=3 * small.live, requests=5 if smoke else 30
            )
        )
    history, few = measured["history"], measured["small"]
    ratio = history["median_s"] / few["median_s"]

    def prs(shape: Shape) -> int:
        return shape.objectives * shape.prs_per_objective

    return Result(
        figure=FIGURE,
        title=TITLE,
        orcha=history["median_s"] * 1000,
        baseline=few["median_s"] * 1000,
        ratio=ratio,
        unit="ms",
        target=TARGET,
        passed=ratio <= 1.2 and history["bytes"] <= LIMIT,
        notes=(
            f"{big.sessions:,} sessions and {prs(big):,} PRs vs {small.sessions:,} and {prs(small):,}; responses"
            f" {history['bytes']:,} vs {few['bytes']:,} bytes"
        ),
        metrics={
            "sessions": big.sessions,
            "prs": prs(big),
            "bytes": history["bytes"],
            "bytes_baseline": few["bytes"],
            "min_ms": history["min_s"] * 1000,
            "min_ms_baseline": few["min_s"] * 1000,
        },
    )
