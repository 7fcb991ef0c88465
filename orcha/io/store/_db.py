"""The one gateway to the SQLite file: connection set-up, migrations and short transactions."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import apsw

from orcha.errors import StoreError
from orcha.io import txguard
from orcha.io.store._checkpoint import BackgroundCheckpointer
from orcha.io.store._schema import MIGRATIONS, SCHEMA_VERSION

STATEMENT_CACHE = 512
"""Prepared statements kept per connection (apsw's most). apsw's cache is circular: a statement done with goes
back into the next slot, evicting the oldest, so it holds the last so many statements run, not so many distinct
ones. At its default of 100, the statements a session runs once (~75 statements apart, eight sessions at once)
were evicted before their next use: 15% of figure 7's statements were prepared again, 12 a session; at 512, 0.8."""

Row = dict[str, Any]
Params = Sequence[Any] | dict[str, Any]


class Tx:
    """An open transaction: run statements, read rows, append audit events. ``now`` is fixed for its life."""

    def __init__(self, conn: apsw.Connection, now: float) -> None:
        self._conn = conn
        self.now = now

    def execute(self, sql: str, params: Params = ()) -> None:
        self._conn.execute(sql, params)

    def executemany(self, sql: str, rows: Sequence[Params]) -> None:
        self._conn.executemany(sql, rows)

    def rows(self, sql: str, params: Params = ()) -> list[Row]:
        cursor = self._conn.cursor()
        cursor.execute(sql, params)
        try:
            names = [d[0] for d in cursor.get_description()]
        except apsw.ExecutionCompleteError:
            return []
        return [dict(zip(names, values, strict=True)) for values in cursor]

    def tuples(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        """The rows as tuples, in the query's column order (cheaper than :meth:`rows` where it counts)."""
        return list(self._conn.execute(sql, params))

    def first(self, sql: str, params: Params = ()) -> tuple[Any, ...] | None:
        """The first row as a tuple, or ``None``."""
        for values in self._conn.execute(sql, params):
            return tuple(values)
        return None

    def row(self, sql: str, params: Params = ()) -> Row | None:
        found = self.rows(sql, params)
        return found[0] if found else None

    def value(self, sql: str, params: Params = ()) -> Any:
        for values in self._conn.execute(sql, params):
            return values[0]
        return None

    def changes(self) -> int:
        return self._conn.changes()

    def event(
        self,
        kind: str,
        /,
        *,
        objective_id: str | None = None,
        session_id: str | None = None,
        target_id: str | None = None,
        **data: Any,
    ) -> int:
        """Append one audit event in this transaction and return its id."""
        self._conn.execute(
            "INSERT INTO events (ts, kind, objective_id, session_id, target_id, data) VALUES (?, ?, ?, ?, ?, ?)",
            (self.now, kind, objective_id, session_id, target_id, json.dumps(data, sort_keys=True, default=str)),
        )
        return self._conn.last_insert_rowid()


def _create_private(path: str) -> None:
    """Create a new database file (and its folder) readable by its owner only; SQLite gives the WAL and shared
    memory files the same mode. An existing file is left as it is."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), mode=0o700, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))


class Database:
    """One apsw connection to one database file, with WAL, a busy timeout of seconds and migrations.

    Use :meth:`write` for a ``BEGIN IMMEDIATE`` transaction and :meth:`read` for a consistent snapshot.
    Transactions are short and synchronous; nothing external may run inside one (see ``txguard``).
    A connection belongs to one thread at a time: open one ``Database`` per thread.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        clock: Callable[[], float] = time.time,
        busy_timeout_ms: int = 10_000,
        readonly: bool = False,
    ) -> None:
        self.path = os.fspath(path)
        self.clock = clock
        self.readonly = readonly
        txguard.install()
        flags = apsw.SQLITE_OPEN_READONLY if readonly else apsw.SQLITE_OPEN_READWRITE | apsw.SQLITE_OPEN_CREATE
        self._checkpointer: BackgroundCheckpointer | None = None
        """A writer's WAL checkpoints, on a thread of their own (none for a reader or an in-memory database)."""
        self._grouped = False
        """Inside :meth:`group`: each store transaction is a savepoint of the group's one transaction."""
        self._call_open = False
        """A store transaction (a savepoint of the group's) is open: another inside it is a nested one."""
        self.lost_groups = 0
        """Groups whose transaction was rolled back after some of their calls had written (what a caller keeps
        of a write it made, it forgets when this moves: the write may not be in the database)."""
        try:
            if not readonly and self.path != ":memory:":
                _create_private(self.path)
            self.conn = apsw.Connection(self.path, flags=flags, statementcachesize=STATEMENT_CACHE)
            self.conn.set_busy_timeout(busy_timeout_ms)
            if not readonly:
                self.conn.pragma("journal_mode", "wal")
                self.conn.pragma("synchronous", "normal")
                if self.path != ":memory:":
                    self._checkpointer = BackgroundCheckpointer(self.path, busy_timeout_ms=busy_timeout_ms)
                    self._checkpointer.install(self.conn)
            self.conn.pragma("foreign_keys", True)
        except (apsw.Error, OSError) as exc:
            raise StoreError(f"cannot open database {self.path!r}: {exc}") from exc
        if not readonly:
            self._migrate()
        else:
            self._check_version()

    def close(self) -> None:
        """Close the connection; a writer first checkpoints the WAL into the database file, so a copy of
        ``orcha.db`` alone is a complete database."""
        if self._checkpointer is not None:
            self._checkpointer.close()
        if not self.readonly:
            with contextlib.suppress(apsw.Error):
                self.conn.pragma("wal_checkpoint", "TRUNCATE")
        self.conn.close()

    @property
    def schema_version(self) -> int:
        return int(self.conn.pragma("user_version"))

    def backup_to(self, path: str) -> None:
        """A consistent copy of the live database in a new private file at ``path`` (SQLite's online backup:
        writers go on meanwhile). An existing ``path`` is refused, never overwritten."""
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))
        except FileExistsError:
            raise StoreError(f"{path} already exists; orcha never overwrites a file with a backup") from None
        except OSError as exc:
            raise StoreError(f"cannot create {path}: {exc.strerror or exc}") from None
        destination = apsw.Connection(path)
        try:
            with destination.backup("main", self.conn, "main") as copy:
                while not copy.done:
                    copy.step(256)
        finally:
            destination.close()

    def integrity(self) -> str:
        """``ok``, or what SQLite's integrity check found."""
        rows = [str(row[0]) for row in self.conn.execute("PRAGMA integrity_check")]
        return "; ".join(rows) or "ok"

    def _check_version(self) -> None:
        version = self.schema_version
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"database {self.path!r} has schema version {version}, newer than this orcha ({SCHEMA_VERSION}); "
                "upgrade orcha"
            )

    def _migrate(self) -> None:
        self._check_version()
        if self.schema_version == SCHEMA_VERSION:
            return
        with self.write() as tx:
            current = int(tx.value("PRAGMA user_version"))
            for _name, sql in MIGRATIONS[current:]:
                self.conn.execute(sql)
            tx.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            if current < SCHEMA_VERSION:
                tx.event("schema_migrated", from_version=current, to_version=SCHEMA_VERSION)

    @contextlib.contextmanager
    def write(self) -> Iterator[Tx]:
        """A ``BEGIN IMMEDIATE`` transaction: committed on success, rolled back on any exception. Inside
        :meth:`group`, a savepoint of the group's transaction (released, or rolled back to)."""
        if self._grouped:
            yield from self._savepoint()
            return
        yield from self._transaction("BEGIN IMMEDIATE")
        if self._checkpointer is not None:  # after the commit: the WAL checkpointed here only when far behind
            self._checkpointer.after_commit(self.conn)

    @contextlib.contextmanager
    def read(self) -> Iterator[Tx]:
        """A read transaction: every statement inside sees the same snapshot (inside :meth:`group`, the
        group's, with the writes of the calls before it)."""
        if self._grouped:
            yield from self._savepoint()
            return
        yield from self._transaction("BEGIN")

    @contextlib.contextmanager
    def group(self) -> Iterator[None]:
        """One ``BEGIN IMMEDIATE`` transaction for several store calls made back to back: each call's own
        transaction is a savepoint inside it (one that fails is rolled back alone), and one ``COMMIT`` ends
        them all, so a burst of small writes pays one commit and writes each page it touches once. Raises
        :class:`StoreError` when the group's transaction cannot begin, was lost (SQLite rolled it back after
        an I/O error) or cannot commit: then nothing any call of the group wrote is in the database."""
        if not self.conn.get_autocommit():
            raise StoreError("nested store transaction: a group inside a transaction")
        with txguard.transaction_open():
            try:
                self.conn.execute("BEGIN IMMEDIATE")
            except apsw.Error as exc:
                raise StoreError(f"cannot begin a transaction: {exc}") from exc
            self._grouped = True
            try:
                yield
                if self.conn.get_autocommit():
                    raise StoreError("the transaction was lost: SQLite rolled it back")
                self.conn.execute("COMMIT")
            except BaseException as exc:
                self.lost_groups += 1
                self._rollback()
                if isinstance(exc, apsw.Error):
                    raise StoreError(f"commit failed: {exc}") from exc
                raise
            finally:
                self._grouped = False
        if self._checkpointer is not None:
            self._checkpointer.after_commit(self.conn)

    def _savepoint(self) -> Iterator[Tx]:
        if self._call_open:
            raise StoreError("nested store transaction: a store method called another inside its transaction")
        if self.conn.get_autocommit():  # the group's transaction is gone (an I/O error rolled it back)
            raise StoreError("the transaction was lost: SQLite rolled it back")
        self._call_open = True
        try:
            self.conn.execute("SAVEPOINT orcha_call")
            try:
                yield Tx(self.conn, self.clock())
            except BaseException as exc:
                if not self.conn.get_autocommit():
                    self.conn.execute("ROLLBACK TO orcha_call")
                    self.conn.execute("RELEASE orcha_call")
                if isinstance(exc, apsw.Error):
                    raise StoreError(f"database error: {exc}") from exc
                raise
            self.conn.execute("RELEASE orcha_call")
        except apsw.Error as exc:
            raise StoreError(f"database error: {exc}") from exc
        finally:
            self._call_open = False

    def _transaction(self, begin: str) -> Iterator[Tx]:
        if not self.conn.get_autocommit():
            raise StoreError("nested store transaction: a store method called another inside its transaction")
        with txguard.transaction_open():
            try:
                self.conn.execute(begin)
            except apsw.Error as exc:
                raise StoreError(f"cannot begin a transaction: {exc}") from exc
            try:
                yield Tx(self.conn, self.clock())
            except apsw.Error as exc:
                self._rollback()
                raise StoreError(f"database error: {exc}") from exc
            except BaseException:
                self._rollback()
                raise
            try:
                self.conn.execute("COMMIT")
            except apsw.Error as exc:
                self._rollback()
                raise StoreError(f"commit failed: {exc}") from exc

    def _rollback(self) -> None:
        if not self.conn.get_autocommit():
            self.conn.execute("ROLLBACK")
