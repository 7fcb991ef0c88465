"""Owned processes: the identity of every agent process a session started, stored before it runs."""

from __future__ import annotations

from orcha.errors import InvalidInputError, NotFoundError
from orcha.io.store._db import Database, Row
from orcha.io.store._sessions import load_session
from orcha.model import Session
from orcha.processes import PROCESS_KINDS, OwnedProcess, ProcessIdentity


def _owned(row: Row) -> OwnedProcess:
    identity = ProcessIdentity(
        pgid=row["pgid"],
        start_time=row["start_time"],
        boot_id=row["boot_id"],
        kind=row["kind"],
        tmux_session=row["tmux_session"],
    )
    return OwnedProcess(
        session_id=row["session_id"], target_id=row["target_id"], identity=identity, created_at=row["created_at"]
    )


class ProcessesMixin:
    _db: Database

    def record_owned_process(self, session_id: str, target_id: str, identity: ProcessIdentity) -> OwnedProcess:
        """Record that ``session_id`` runs the process ``identity`` on ``target_id`` (again: replaced)."""
        if identity.kind not in PROCESS_KINDS:
            raise InvalidInputError(f"a process is one of {sorted(PROCESS_KINDS)}, not {identity.kind!r}", field="kind")
        if identity.pgid <= 0 or identity.start_time < 0:
            raise InvalidInputError(f"not a process identity: {identity}", field="pgid")
        with self._db.write() as tx:
            if tx.value("SELECT 1 FROM sessions WHERE id = ?", (session_id,)) is None:
                raise NotFoundError("session", session_id)
            if tx.value("SELECT 1 FROM targets WHERE id = ?", (target_id,)) is None:
                raise NotFoundError("target", target_id)
            tx.execute(
                "INSERT OR REPLACE INTO owned_processes (session_id, target_id, pgid, start_time, boot_id, kind,"
                " tmux_session, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    session_id,
                    target_id,
                    identity.pgid,
                    identity.start_time,
                    identity.boot_id,
                    identity.kind,
                    identity.tmux_session,
                    tx.now,
                ),
            )
            return OwnedProcess(session_id=session_id, target_id=target_id, identity=identity, created_at=tx.now)

    def forget_owned_process(self, session_id: str, pgid: int) -> bool:
        """Forget one recorded process of ``session_id``; ``False`` when there was none."""
        with self._db.write() as tx:
            tx.execute("DELETE FROM owned_processes WHERE session_id = ? AND pgid = ?", (session_id, pgid))
            return tx.changes() > 0

    def forget_owned_processes(self, session_id: str, *, kind: str | None = None) -> int:
        """Forget the recorded processes of ``session_id`` (only those of ``kind``, if given); how many."""
        with self._db.write() as tx:
            if kind is None:
                tx.execute("DELETE FROM owned_processes WHERE session_id = ?", (session_id,))
            else:
                tx.execute("DELETE FROM owned_processes WHERE session_id = ? AND kind = ?", (session_id, kind))
            return tx.changes()

    def forget_owned_processes_if_ended(self, session_id: str) -> Session:
        """The session as it is now; when it has ended, its recorded processes are forgotten in the same
        transaction (a session's end reads it once)."""
        with self._db.write() as tx:
            session = load_session(tx, session_id)
            if session.status.is_terminal:
                tx.execute("DELETE FROM owned_processes WHERE session_id = ?", (session_id,))
            return session

    def list_owned_processes(self) -> list[OwnedProcess]:
        """Every recorded process, oldest first."""
        with self._db.read() as tx:
            return [_owned(r) for r in tx.rows("SELECT * FROM owned_processes ORDER BY created_at, session_id, pgid")]
