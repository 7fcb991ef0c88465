"""One server per database: an exclusive OS lock on ``<db>.lock``, held for the life of the process.

``flock`` is released by the kernel when the process dies, however it dies (``kill -9`` included), so a crash
never leaves a stale lock behind; the file only says who holds it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator

from orcha.errors import OrchaError


class DatabaseInUseError(OrchaError):
    """Another orcha process serves this database."""

    code = "database_in_use"


@contextlib.contextmanager
def hold_database_lock(db_path: str) -> Iterator[None]:
    """Hold the database's lock until the block exits; raise :class:`DatabaseInUseError` if another process
    holds it (naming that process)."""
    path = f"{os.path.abspath(db_path)}.lock"
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "unknown"
            raise DatabaseInUseError(
                f"the database {db_path} is in use by another orcha serve (pid {holder}); stop it first, "
                "or pass another --db"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
