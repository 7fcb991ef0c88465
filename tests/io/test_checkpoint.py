"""WAL checkpoints run on their own thread, never inside a writer's commit; the WAL stays bounded when that
thread cannot keep up."""

from __future__ import annotations

import itertools
import logging
import pathlib
import threading
import time

import apsw
import pytest

from orcha.io.store._checkpoint import BackgroundCheckpointer
from orcha.io.store._db import Database

BLOB = b"x" * 4000
"""About one page a row, so the WAL grows by a page or more a commit."""


def _writer(path: pathlib.Path) -> apsw.Connection:
    conn = apsw.Connection(str(path))
    conn.pragma("journal_mode", "wal")
    conn.pragma("synchronous", "normal")
    conn.execute("CREATE TABLE t (b BLOB)")
    return conn


def _commit_rows(conn: apsw.Connection, checkpointer: BackgroundCheckpointer, rows: int) -> None:
    for _ in range(rows):
        with conn:
            conn.execute("INSERT INTO t VALUES (?)", (BLOB,))
        checkpointer.after_commit(conn)


def _until_checkpointed(checkpointer: BackgroundCheckpointer) -> None:
    """Wait (10 s at most) for the thread's first checkpoint: it runs beside the test's commits."""
    deadline = time.monotonic() + 10
    while not checkpointer.checkpoints and time.monotonic() < deadline:
        time.sleep(0.005)


def _until_idle(checkpointer: BackgroundCheckpointer) -> None:
    """Wait (10 s at most) until the thread has no checkpoint due or running."""
    deadline = time.monotonic() + 10
    while (checkpointer._due.is_set() or checkpointer._checkpointing) and time.monotonic() < deadline:
        time.sleep(0.001)


def _wal_frames(conn: apsw.Connection) -> int:
    """Frames in the WAL since it last started over (asked with a passive checkpoint, the end of a test)."""
    log, _done = conn.wal_checkpoint(mode=apsw.SQLITE_CHECKPOINT_PASSIVE)
    return log


def test_a_due_checkpoint_runs_on_the_checkpointer_thread_not_in_the_commit(tmp_path: pathlib.Path) -> None:
    conn = _writer(tmp_path / "db")
    checkpointer = BackgroundCheckpointer(str(tmp_path / "db"), pages=20, inline_pages=10_000)
    checkpointer.install(conn)
    threads: set[str] = set()
    original = checkpointer._work

    def work() -> None:
        threads.add(threading.current_thread().name)
        original()

    checkpointer._work = work  # type: ignore[method-assign]
    _commit_rows(conn, checkpointer, 200)
    _until_checkpointed(checkpointer)
    checkpointer.close()
    assert checkpointer._backfilled >= 20  # it copied the WAL (a fresh connection's first checkpoint did nothing)
    assert checkpointer.checkpoints >= 1
    assert checkpointer.inline_checkpoints == 0
    assert threads == {"orcha-checkpoint"}
    assert threading.current_thread().name not in threads
    conn.close()


def test_the_writer_checkpoints_itself_when_the_thread_cannot_keep_up(tmp_path: pathlib.Path) -> None:
    conn = _writer(tmp_path / "db")
    checkpointer = BackgroundCheckpointer(str(tmp_path / "db"), pages=20, inline_pages=100)
    checkpointer.install(conn)
    checkpointer._wake = lambda: None  # type: ignore[method-assign]  # the thread never runs
    _commit_rows(conn, checkpointer, 450)
    assert checkpointer.checkpoints == 0
    assert checkpointer.inline_checkpoints >= 3
    assert _wal_frames(conn) < 200  # bounded by the fallback, not by SQLite's automatic checkpoint
    conn.close()


def test_without_the_fallback_nothing_else_would_checkpoint(tmp_path: pathlib.Path) -> None:
    """The hook replaces SQLite's automatic checkpoint: with neither thread nor fallback, the WAL only grows
    (which is why the fallback exists)."""
    conn = _writer(tmp_path / "db")
    checkpointer = BackgroundCheckpointer(str(tmp_path / "db"), pages=20, inline_pages=10**9)
    checkpointer.install(conn)
    checkpointer._wake = lambda: None  # type: ignore[method-assign]
    _commit_rows(conn, checkpointer, 1200)
    assert _wal_frames(conn) >= 1200
    conn.close()


def test_after_close_no_thread_starts(tmp_path: pathlib.Path) -> None:
    conn = _writer(tmp_path / "db")
    checkpointer = BackgroundCheckpointer(str(tmp_path / "db"), pages=5, inline_pages=10_000)
    checkpointer.install(conn)
    checkpointer.close()
    before = {t.name for t in threading.enumerate()}
    _commit_rows(conn, checkpointer, 50)
    assert "orcha-checkpoint" not in {t.name for t in threading.enumerate()} - before
    assert checkpointer.checkpoints == 0
    conn.close()


def test_the_store_database_checkpoints_in_the_background_and_closes_truncated(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "orcha.db"
    db = Database(path)
    with db.write() as tx:
        tx.execute("CREATE TABLE blobs (b BLOB)")
    for _ in range(1500):  # past SQLite's 1,000-page threshold
        with db.write() as tx:
            tx.execute("INSERT INTO blobs VALUES (?)", (BLOB,))
    checkpointer = db._checkpointer
    assert checkpointer is not None
    _until_checkpointed(checkpointer)
    db.close()
    assert checkpointer.checkpoints >= 1
    assert checkpointer.inline_checkpoints == 0
    wal = pathlib.Path(f"{path}-wal")
    assert not wal.exists() or wal.stat().st_size == 0  # the writer's close still truncates it


def test_a_reader_has_no_checkpointer(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "orcha.db"
    Database(path).close()
    reader = Database(path, readonly=True)
    assert reader._checkpointer is None
    reader.close()
    assert Database(":memory:")._checkpointer is None


def test_a_wal_that_cannot_start_over_wakes_the_thread_once_per_threshold_not_per_commit(
    tmp_path: pathlib.Path,
) -> None:
    """A reader keeps the WAL from starting over, so its size stays past the threshold: a checkpoint is due
    again only once as many new frames have come, not at every commit."""
    path = tmp_path / "db"
    conn = _writer(path)
    with conn:
        conn.execute("INSERT INTO t VALUES (?)", (BLOB,))
    reader = apsw.Connection(str(path))
    reader.execute("BEGIN")
    assert list(reader.execute("SELECT count(*) FROM t")) == [(1,)]  # its snapshot holds the WAL
    checkpointer = BackgroundCheckpointer(str(path), pages=20, inline_pages=10_000)
    checkpointer.install(conn)
    for _ in range(300):
        _commit_rows(conn, checkpointer, 1)
        _until_idle(checkpointer)  # each commit after the thread is done with the last: a quiet writer's pace
    checkpointer.close()
    frames = checkpointer._backfilled + checkpointer._wal_pages  # the WAL's size at the last commit
    assert frames >= 300  # it never started over
    assert 2 <= checkpointer.checkpoints <= frames // 20 + 1, (checkpointer.checkpoints, frames)
    reader.execute("COMMIT")
    reader.close()
    conn.close()


def test_a_checkpoint_that_fails_is_tried_again_a_threshold_later_not_at_every_commit(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The checkpointer's database cannot be opened (gone from under it): each failure is logged, and the
    next try waits for as many new frames, so a lasting failure costs no thread per commit."""
    conn = _writer(tmp_path / "db")
    checkpointer = BackgroundCheckpointer(str(tmp_path / "elsewhere" / "db"), pages=20, inline_pages=10_000)
    checkpointer.install(conn)
    started = []
    original = checkpointer._work

    def work() -> None:
        started.append(1)
        original()

    checkpointer._work = work  # type: ignore[method-assign]
    for _ in range(200):
        _commit_rows(conn, checkpointer, 1)
        _until_thread_gone(checkpointer)
    checkpointer.close()
    frames = checkpointer._backfilled + checkpointer._wal_pages
    assert checkpointer.checkpoints == 0
    assert 2 <= len(started) <= frames // 20 + 1, (len(started), frames)
    assert "WAL checkpoint of" in caplog.text
    conn.close()


def _until_thread_gone(checkpointer: BackgroundCheckpointer) -> None:
    deadline = time.monotonic() + 10
    while checkpointer._thread is not None and time.monotonic() < deadline:
        time.sleep(0.001)


def test_beside_a_writer_that_never_pauses_the_wal_still_starts_over_and_stays_bounded(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A checkpoint on the thread rarely finds the WAL all copied before the next commit, so it would grow
    for ever: past ``inline_pages`` the writer checkpoints itself and the WAL starts over at the next commit.
    The two never collide (SQLite refuses a second checkpoint as busy: logged as a failure). How far the WAL
    grows while the thread is in one depends on the machine (its fsync), so what is asserted is the rule:
    past the threshold the writer checkpoints at every commit unless the thread is at one, and the WAL starts
    over at the commit after."""
    conn = _writer(tmp_path / "db")
    checkpointer = BackgroundCheckpointer(str(tmp_path / "db"), pages=20, inline_pages=100)
    checkpointer.install(conn)
    sizes: list[int] = []
    inline_at: list[int] = []
    with caplog.at_level(logging.WARNING):
        for i in range(20_000):  # how many commits the thread's checkpoints leave to the writer varies
            if len(inline_at) >= 10:
                break
            before = checkpointer.inline_checkpoints
            with conn:
                conn.execute("INSERT INTO t VALUES (?)", (BLOB,))
            due = checkpointer._wal_total >= checkpointer._inline_after
            checkpointer.after_commit(conn)
            sizes.append(checkpointer._wal_total)
            if checkpointer.inline_checkpoints > before:
                inline_at.append(i)
            else:  # not run although due: only because the thread was at one (then it is the next to run)
                assert not due or checkpointer._inline_pending, (i, sizes[-1])
        checkpointer.close()
    assert len(inline_at) >= 10, (len(inline_at), len(sizes))
    for i in inline_at[:-1]:
        assert sizes[i + 1] < sizes[i], (i, sizes[i], sizes[i + 1])  # the WAL started over right after
    assert sum(1 for a, b in itertools.pairwise(sizes) if b < a) >= len(inline_at) - 1
    assert "failed" not in caplog.text
    conn.close()


def test_the_writers_checkpoint_waits_for_the_threads_and_the_thread_starts_none_meanwhile(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    conn = _writer(tmp_path / "db")
    checkpointer = BackgroundCheckpointer(str(tmp_path / "db"), pages=20, inline_pages=100)
    checkpointer.install(conn)
    woken: list[int] = []
    wake = checkpointer._wake
    checkpointer._wake = lambda: woken.append(checkpointer._wal_total) or wake()  # type: ignore[method-assign]
    checkpointer._checkpointing = True  # the thread is in a checkpoint (as if it had just started one)
    with caplog.at_level(logging.WARNING):
        _commit_rows(conn, checkpointer, 60)
        assert checkpointer._wal_total >= 100
        assert checkpointer.inline_checkpoints == 0  # not tried beside the thread's: it would fail as busy
        assert checkpointer._inline_pending
        assert not checkpointer._due.is_set()  # and no new one for the thread: the writer's is next
        checkpointer._checkpointing = False  # the thread's is over
        _commit_rows(conn, checkpointer, 1)
        assert checkpointer.inline_checkpoints == 1 and not checkpointer._inline_pending
        _commit_rows(conn, checkpointer, 1)
    assert checkpointer._wal_total < 10  # the WAL started over
    assert caplog.text == ""
    checkpointer.close()
    conn.close()
