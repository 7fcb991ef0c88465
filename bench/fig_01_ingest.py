"""Figure 1, ingest: sessions print as fast as they can; every line is committed and delivered to one SSE
subscriber per session. Baseline: raw apsw inserting the same rows in batched transactions.

orcha runs as ``orcha serve`` (with the printing agents, :mod:`bench._serve`); the subscribers read on raw
sockets in the benchmark's process. The clock starts when the gate opens (every session running, every
subscriber connected) and stops when the last subscriber has its last line and the database holds them all.
"""

from __future__ import annotations

import pathlib
import tempfile
import time

import trio

from bench._agents import Plan
from bench._baselines import count, raw_insert_seconds
from bench._harness import ServeProcess, percentile, print_and_follow
from bench._lines import line_body
from bench._result import Result

FIGURE = "1"
TITLE = "ingest"
TARGET = "≥ 0.20"
SIZE = 100
BATCH = 1000


async def _orcha(root: pathlib.Path, sessions: int, lines: int) -> dict[str, float]:
    server = ServeProcess(root, root / "orcha.db", printers=True, extra=["--max-managers", str(sessions + 8)])
    await server.start()
    try:
        started, logs = await print_and_follow(
            server, [Plan(lines=lines, size=SIZE, tag=str(i)) for i in range(sessions)]
        )
        delivered = max(log.last_read for log in logs) - started
        expected = sessions * lines
        committed_sql = "SELECT COUNT(*) FROM transcript_lines WHERE kind = 1"  # text
        elapsed = delivered
        with trio.fail_after(60):
            while count(server.db, committed_sql) < expected:  # delivered, yet not all committed: wait
                await trio.sleep(0.01)
                elapsed = time.time() - started
        latencies = [latency for log in logs for latency in log.latencies]
        got = sum(log.count for log in logs)
        return {
            "seconds": elapsed,
            "lines": expected,
            "delivered_text_lines": sum(len(log.latencies) for log in logs),
            "delivered_events": got,
            "gaps": sum(log.gaps for log in logs),
            "latency_p50_ms": percentile(latencies, 0.5) * 1000,
            "latency_p99_ms": percentile(latencies, 0.99) * 1000,
        }
    finally:
        await server.stop()


def _baseline(root: pathlib.Path, sessions: int, lines: int) -> float:
    """Seconds for raw apsw to insert the same rows, interleaved by session as they arrive, in batches."""
    session_ids = [f"ses_{i:012x}" for i in range(sessions)]
    now = time.time()
    rows = [
        (session_ids[s], index + 1, "text", line_body(now, str(s), index, SIZE), now)
        for index in range(lines)
        for s in range(sessions)
    ]
    return raw_insert_seconds(root / "raw.db", rows, batch=BATCH)


def run(smoke: bool) -> Result:
    sessions, lines = (10, 200) if smoke else (100, 2000)
    with tempfile.TemporaryDirectory(prefix="orcha-bench-") as tmp:
        root = pathlib.Path(tmp)
        measured = trio.run(_orcha, root, sessions, lines)
        baseline_seconds = _baseline(root, sessions, lines)
    total = sessions * lines
    orcha_rate = total / measured["seconds"]
    baseline_rate = total / baseline_seconds
    ratio = orcha_rate / baseline_rate
    complete = measured["delivered_text_lines"] == total and measured["gaps"] == 0
    return Result(
        figure=FIGURE,
        title=TITLE,
        orcha=orcha_rate,
        baseline=baseline_rate,
        ratio=ratio,
        unit="lines/s",
        target=TARGET,
        passed=ratio >= 0.20 and complete,
        notes=(
            f"{sessions} sessions x {lines} lines of {SIZE} chars; raw apsw in transactions of {BATCH} rows"
            + ("" if complete else "; NOT every line was delivered")
        ),
        metrics=measured,
    )
