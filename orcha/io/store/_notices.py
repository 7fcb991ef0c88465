"""What the manager must hear about its team: stored first, delivered once, in order."""

from __future__ import annotations

from collections.abc import Sequence

from orcha.io.store import _rows
from orcha.io.store._db import Database, Tx
from orcha.io.store._sessions import insert_notice, live_workers, load_objective
from orcha.model import ManagerWake, Notice, ObjectiveStatus, QuestionStatus


def _pending(tx: Tx, objective_id: str) -> list[Notice]:
    rows = tx.rows(
        "SELECT id, objective_id, kind, text, created_at FROM manager_notices"
        " WHERE objective_id = ? AND delivered_at IS NULL ORDER BY id",
        (objective_id,),
    )
    return [Notice(**r) for r in rows]


class NoticesMixin:
    _db: Database

    def add_notice(self, objective_id: str, kind: str, text: str) -> int:
        """Queue a notice for the objective's manager (durably, before anyone tries to deliver it)."""
        with self._db.write() as tx:
            load_objective(tx, objective_id)
            return insert_notice(tx, objective_id, kind, text)

    def add_team_notice(self, objective_id: str, kind: str, text: str) -> tuple[int | None, int]:
        """Queue a notice for the manager of an active objective, in one transaction with what the team news
        asks next: the notice's id (``None`` when the objective is no longer active: nothing is stored, its
        manager is ending too) and how many of the objective's workers are still live (not finished)."""
        with self._db.write() as tx:
            objective = load_objective(tx, objective_id)
            notice = insert_notice(tx, objective_id, kind, text) if objective.status is ObjectiveStatus.ACTIVE else None
            return notice, live_workers(tx, objective_id)

    def pending_notices(self, objective_id: str) -> list[Notice]:
        """Undelivered notices, oldest first."""
        with self._db.read() as tx:
            return _pending(tx, objective_id)

    def manager_wake(self, objective_id: str) -> ManagerWake:
        """A waiting manager's wake in one read: its undelivered notices, the ids of its objective's live
        workers and of its open questions (only ids: it says what it waits on)."""
        with self._db.read() as tx:
            workers = tx.tuples(  # its live sessions (by objective and status, never by role: see live_workers)
                f"SELECT id FROM sessions WHERE objective_id = ? AND status IN {_rows.NOT_ENDED} AND +role = 'worker'"
                " ORDER BY created_at, rowid",
                (objective_id,),
            )
            questions = tx.tuples(
                "SELECT id FROM questions WHERE objective_id = ? AND status = ? ORDER BY created_at",
                (objective_id, str(QuestionStatus.OPEN)),
            )
            return ManagerWake(
                notices=_pending(tx, objective_id),
                live_workers=[w for (w,) in workers],
                open_questions=[q for (q,) in questions],
            )

    def mark_notices_delivered(self, ids: Sequence[int], *, session_id: str) -> int:
        """Record that ``session_id`` received these notices; a notice is delivered once (returns how many)."""
        if not ids:
            return 0
        marks = ",".join("?" * len(ids))
        with self._db.write() as tx:
            tx.execute(
                f"UPDATE manager_notices SET delivered_to = ?, delivered_at = ? WHERE id IN ({marks})"
                " AND delivered_at IS NULL",
                (session_id, tx.now, *ids),
            )
            return tx.changes()
