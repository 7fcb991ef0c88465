"""WAL checkpoints on a thread of their own, so no store call waits behind one.

SQLite's automatic checkpoint runs inside the commit that takes the WAL past 1,000 pages: that commit (and
every store call queued behind it on the store's thread) waits while the checkpoint copies the pages into the
database file and syncs it, 5 to 100 ms (measured in figure 6 of ``docs/performance.md``). Here the writer's
commit hook only notes the WAL's size; every :data:`CHECKPOINT_PAGES` new frames it wakes a checkpointer
thread, which runs a passive checkpoint on its own connection (it never blocks a writer or a reader, and SQLite
releases the GIL meanwhile).

The WAL starts over from its beginning only at a commit that finds all of it copied (and no reader in it):
beside a steady stream of commits, a checkpoint on another thread rarely ends that way, so the WAL would only
grow. Once it holds :data:`INLINE_PAGES` frames the writer checkpoints itself after a commit: it copies what
the thread has not yet (little, when the thread keeps up), and the WAL starts over at the next commit. So the
WAL stays bounded whatever happens, and the writer pays a checkpoint once every few thousand frames, not
every thousand. The two never run at once (SQLite would refuse the second as busy): while the thread is in
one, the writer's waits for a later commit, and the thread starts no new one until the writer's has run.
"""

from __future__ import annotations

import contextlib
import logging
import threading

import apsw

log = logging.getLogger(__name__)

CHECKPOINT_PAGES = 1000
"""The WAL size (pages) at which a checkpoint is due: SQLite's own automatic threshold."""
INLINE_PAGES = 8_000
"""The WAL size (frames, 32 MB at 4 KB pages) past which the writer checkpoints itself, after its commit."""
IDLE_SECONDS = 30.0
"""The checkpointer thread exits after this long without work (the next due checkpoint starts a new one)."""


class BackgroundCheckpointer:
    """Checkpoints the WAL of the database at ``path`` off the writer's thread (see the module docstring).

    :meth:`install` puts its hook on the writer's connection; the writer calls :meth:`after_commit` once each
    transaction is over; :meth:`close` stops the thread (the writer's own close checkpoints what is left)."""

    def __init__(
        self,
        path: str,
        *,
        pages: int = CHECKPOINT_PAGES,
        inline_pages: int = INLINE_PAGES,
        busy_timeout_ms: int = 10_000,
    ) -> None:
        self._path = path
        self._pages = pages
        self._inline_pages = inline_pages
        self._busy_timeout_ms = busy_timeout_ms
        self._lock = threading.Lock()
        self._due = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._checkpointing = False
        self._inline_pending = False
        """The writer's own checkpoint is due but the thread was at one (only one runs at a time: SQLite
        refuses a second as busy): the thread starts no new one, and the writer's runs at a commit after."""
        self._wal_pages = 0
        """The WAL's frames since the last checkpoint, as of the writer's last commit."""
        self._wal_total = 0
        """The WAL's frames, as of the writer's last commit."""
        self._inline_after = inline_pages
        """The WAL's size at which the writer checkpoints itself next."""
        self._backfilled = 0
        """The WAL's size (frames) when the last checkpoint ran: it copied what it could of them (all, unless a
        reader's snapshot held some back). The WAL starts over from its beginning at a later commit only once
        no reader uses it, so until then its size alone says little: the next checkpoint is due when as many
        frames again have come."""
        self.checkpoints = 0
        """Checkpoints run by the thread (for tests and the benchmark's notes)."""
        self.inline_checkpoints = 0
        """Checkpoints the writer had to run itself."""

    def install(self, conn: apsw.Connection) -> None:
        """Replace SQLite's automatic checkpoint on the writer's connection ``conn`` with this one."""
        conn.set_wal_hook(self._on_commit)

    def _on_commit(self, _conn: apsw.Connection, _dbname: str, pages: int) -> int:
        """SQLite's commit hook: note the WAL's size and wake the thread when a checkpoint is due (as many
        frames again as the threshold since the last one). Nothing else happens here: the commit is still in
        progress."""
        if pages < self._wal_total or pages < self._backfilled:  # the WAL started over (maybe while the thread
            self._backfilled, self._inline_after = 0, self._inline_pages  # noted a size from before it)
        self._wal_total = pages
        self._wal_pages = pages - self._backfilled
        if self._wal_pages >= self._pages:
            self._wake()
        return apsw.SQLITE_OK

    def after_commit(self, conn: apsw.Connection) -> None:
        """Called by the writer after each of its transactions: once the WAL holds :data:`INLINE_PAGES`
        frames, it checkpoints here, so the WAL starts over at the next commit (if no reader holds it: then
        again :data:`CHECKPOINT_PAGES` frames later)."""
        if self._wal_total < self._inline_after:
            return
        with self._lock:
            if self._checkpointing:  # the thread's checkpoint holds the WAL: the writer's waits for a later commit
                self._inline_pending = True
                return
            self._inline_pending = False
            self._due.clear()  # what the thread was woken for, the writer does now
        self._inline_after = self._wal_total + self._pages
        try:
            self._note(*conn.wal_checkpoint("main", mode=apsw.SQLITE_CHECKPOINT_PASSIVE))
            self.inline_checkpoints += 1
        except apsw.Error as exc:
            self._failed(exc)

    def _note(self, frames: int, _copied: int) -> None:
        """What a checkpoint did: the next is due :data:`CHECKPOINT_PAGES` frames after the WAL's size then
        (``-1`` when it could not run: due again at the next commit)."""
        self._backfilled = max(frames, 0)

    def _failed(self, exc: apsw.Error) -> None:
        """A checkpoint failed: tried again once as many frames again have come, not at every commit."""
        log.warning("WAL checkpoint of %s failed: %s", self._path, exc)
        self._backfilled += self._wal_pages

    def close(self) -> None:
        """Stop the thread (after the checkpoint it is running, if any); later commits start none."""
        with self._lock:
            self._closed = True
            thread = self._thread
        self._due.set()
        if thread is not None:
            thread.join()

    def _wake(self) -> None:
        if self._due.is_set() or self._checkpointing or self._inline_pending:  # woken already, at it, or the
            return  # writer's own is next: the next commit looks again
        with self._lock:
            if self._closed:
                return
            self._due.set()
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="orcha-checkpoint", daemon=True)
                self._thread.start()

    def _work(self) -> None:
        conn: apsw.Connection | None = None
        try:
            while True:
                woken = self._due.wait(IDLE_SECONDS)
                with self._lock:
                    if self._closed or not woken:  # closed, or idle for long: leave
                        self._thread = None
                        return
                    if not self._due.is_set() or self._inline_pending:  # the writer took it, or takes it next
                        self._due.clear()
                        continue
                    self._due.clear()
                    self._checkpointing = True
                try:
                    if conn is None:
                        conn = apsw.Connection(self._path, flags=apsw.SQLITE_OPEN_READWRITE)
                        conn.set_busy_timeout(self._busy_timeout_ms)
                        conn.execute("SELECT count(*) FROM sqlite_master").fetchall()  # (a connection that has
                        # read nothing yet has not opened the WAL: its checkpoint would do nothing, -1 frames)
                    self._note(*conn.wal_checkpoint("main", mode=apsw.SQLITE_CHECKPOINT_PASSIVE))
                finally:
                    with self._lock:
                        self._checkpointing = False
                self.checkpoints += 1
        except apsw.Error as exc:  # the writer's fallback keeps the WAL bounded
            self._failed(exc)
            with self._lock:
                self._thread = None
        finally:
            if conn is not None:
                with contextlib.suppress(apsw.Error):
                    conn.close()
