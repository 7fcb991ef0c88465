"""Transcript appends: the store's group commit against raw apsw baselines measured in the same run.

    .venv/bin/python bench/transcript_append.py [LINES]

Prints lines per second for: raw apsw, one transaction for all lines (the floor); the store's
``append_transcript`` in batches of 500 (what the session actors do); and one transaction per line (what a
naive writer would do). Ratios are against the raw batched baseline; lower is better.
"""

from __future__ import annotations

import sys
import tempfile
import time

import apsw

from orcha.io.store import Store
from orcha.model import TranscriptKind, TranscriptLine

BODY = "x" * 120


def raw(path: str, lines: int, *, per_row: bool) -> float:
    conn = apsw.Connection(path)
    conn.pragma("journal_mode", "wal")
    conn.pragma("synchronous", "normal")
    conn.execute(
        "CREATE TABLE t (session_id TEXT, seq INTEGER, kind TEXT, body TEXT, ts REAL,"
        " PRIMARY KEY (session_id, seq)) WITHOUT ROWID"
    )
    rows = [("ses_1", n, "text", BODY, 0.0) for n in range(1, lines + 1)]
    started = time.perf_counter()
    if per_row:
        for row in rows:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO t VALUES (?, ?, ?, ?, ?)", row)
            conn.execute("COMMIT")
    else:
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?)", rows)
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


def store(path: str, lines: int, batch: int) -> float:
    with Store(path) as s:
        _, manager = s.create_objective(title="bench", prompt="p", agent="fake")
        started = time.perf_counter()
        for start in range(0, lines, batch):
            s.append_transcript(
                [
                    TranscriptLine(session_id=manager.id, kind=TranscriptKind.TEXT, body=BODY)
                    for _ in range(min(batch, lines - start))
                ]
            )
        return time.perf_counter() - started


def main() -> None:
    lines = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    with tempfile.TemporaryDirectory() as tmp:
        baseline = raw(f"{tmp}/raw.db", lines, per_row=False)
        batched = store(f"{tmp}/store.db", lines, batch=500)
        per_row_lines = max(lines // 10, 1000)
        per_row = raw(f"{tmp}/per_row.db", per_row_lines, per_row=True) * lines / per_row_lines
    print(f"lines: {lines}")
    print(f"raw apsw, one transaction      {lines / baseline:>12,.0f} lines/s   1.00x (baseline)")
    print(f"store, batches of 500          {lines / batched:>12,.0f} lines/s   {batched / baseline:.2f}x")
    print(f"raw apsw, one transaction/line {lines / per_row:>12,.0f} lines/s   {per_row / baseline:.2f}x")


if __name__ == "__main__":
    main()
