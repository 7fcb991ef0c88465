"""Raw baselines measured in the same run: SQLite through apsw with nothing of orcha in the way."""

from __future__ import annotations

import pathlib
import time
from collections.abc import Sequence
from typing import Any

import apsw

TRANSCRIPT_DDL = """
CREATE TABLE transcript_lines (
    key INTEGER PRIMARY KEY,
    kind INTEGER NOT NULL,
    body TEXT NOT NULL,
    ts REAL NOT NULL
)
"""
"""orcha's transcript table (``orcha/io/store/_schema.py``): a line's key is session number * 2**32 + seq."""


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
        numbers: dict[str, int] = {}
        keyed = [
            (numbers.setdefault(session, len(numbers) + 1) * 2**32 + seq, 1, body, ts)
            for session, seq, _kind, body, ts in rows
        ]
        started = time.perf_counter()
        for start in range(0, len(keyed), batch):
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany("INSERT INTO transcript_lines VALUES (?, ?, ?, ?)", keyed[start : start + batch])
            conn.execute("COMMIT")
        return time.perf_counter() - started
    finally:
        conn.close()


def rows(path: pathlib.Path, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
    """The rows of a query, read on a read-only connection of their own (a server may have the file open)."""
    conn = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        conn.set_busy_timeout(10_000)
        return [tuple(row) for row in conn.execute(sql, params)]
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
