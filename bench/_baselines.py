"""Raw baselines measured in the same run: SQLite through apsw with nothing of orcha in the way."""

from __future__ import annotations

import pathlib
import time
from collections.abc import Sequence

import apsw

TRANSCRIPT_DDL = """
CREATE TABLE transcript (
    session_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    ts REAL NOT NULL,
    PRIMARY KEY (session_id, seq)
) WITHOUT ROWID
"""
"""orcha's transcript table (``orcha/io/store/_schema.py``) without its foreign key."""


def raw_connection(path: pathlib.Path) -> apsw.Connection:
    """A connection set up as orcha's store sets its own: WAL, ``synchronous=NORMAL``."""
    conn = apsw.Connection(str(path))
    conn.pragma("journal_mode", "wal")
    conn.pragma("synchronous", "normal")
    return conn


def raw_insert_seconds(path: pathlib.Path, rows: Sequence[tuple[str, int, str, str, float]], *, batch: int) -> float:
    """Seconds raw apsw takes to insert ``rows`` into a fresh transcript table, ``batch`` rows a transaction."""
    conn = raw_connection(path)
    try:
        conn.execute(TRANSCRIPT_DDL)
        started = time.perf_counter()
        for start in range(0, len(rows), batch):
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany("INSERT INTO transcript VALUES (?, ?, ?, ?, ?)", rows[start : start + batch])
            conn.execute("COMMIT")
        return time.perf_counter() - started
    finally:
        conn.close()


def count(path: pathlib.Path, sql: str, params: Sequence[object] = ()) -> int:
    """One number from a database, read on a read-only connection (a server may have it open)."""
    conn = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        conn.set_busy_timeout(10_000)
        return int(next(iter(conn.execute(sql, params)))[0])
    finally:
        conn.close()
