"""What the manager must hear about its team: stored first, delivered once, in order."""

from __future__ import annotations

from collections.abc import Sequence

from orcha.io.store._db import Database
from orcha.io.store._sessions import insert_notice, live_workers, load_objective
from orcha.model import Notice, ObjectiveStatus


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
            rows = tx.rows(
                "SELECT id, objective_id, kind, text, created_at FROM manager_notices"
                " WHERE objective_id = ? AND delivered_at IS NULL ORDER BY id",
                (objective_id,),
            )
            return [Notice(**r) for r in rows]

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
