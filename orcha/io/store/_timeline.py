"""An objective's timeline: its sessions as spans, its PRs and questions as markers, its cost over time.

Bounded whatever the objective's size: at most :data:`~orcha.views.TIMELINE_SESSIONS` sessions,
:data:`~orcha.views.TIMELINE_MARKERS` markers and :data:`~orcha.views.TIMELINE_COST_SAMPLES` cost samples
(``objective_cost``, appended when a usage report changes a session's cost, thinned evenly here).
"""

from __future__ import annotations

import math

from orcha import oneline
from orcha.io.store._db import Database, Tx
from orcha.io.store._sessions import load_objective
from orcha.model import ObjectiveStatus, SessionRole, SessionStatus
from orcha.views import (
    TIMELINE_COST_SAMPLES,
    TIMELINE_MARKERS,
    TIMELINE_SESSIONS,
    CostSample,
    Timeline,
    TimelineMarker,
    TimelineObjective,
    TimelineSession,
)

_SESSIONS_SQL = f"""
    SELECT id, role, agent, task, status, started_at, ended_at
    FROM sessions WHERE objective_id = ? ORDER BY created_at, rowid LIMIT {TIMELINE_SESSIONS}
"""
_MARKERS_SQL = f"""
    SELECT * FROM (
        SELECT 'pr' AS kind, created_at AS at, id, '#' || number || ' ' || substr(CASE WHEN title != '' THEN title
               ELSE branch END, 1, 500) AS label, session_id FROM pull_requests WHERE objective_id = ?
        UNION ALL
        SELECT 'question', created_at, id, substr(text, 1, 500), asked_by FROM questions WHERE objective_id = ?
        UNION ALL
        SELECT 'answer', answered_at, id, substr(COALESCE(answer, status), 1, 500), asked_by FROM questions
        WHERE objective_id = ? AND answered_at IS NOT NULL
    ) ORDER BY at, kind, id LIMIT {TIMELINE_MARKERS}
"""
_COST_SQL = """
    SELECT at, cost_usd FROM (
        SELECT at, cost_usd, ROW_NUMBER() OVER (ORDER BY at, rowid) - 1 AS i FROM objective_cost
        WHERE objective_id = ?)
    WHERE i % ? = 0 OR i = ? - 1 ORDER BY i
"""


def _ended_at(tx: Tx, objective_id: str, status: ObjectiveStatus, updated_at: float) -> float | None:
    """When the objective ended: its terminal move's audit event (else its last update), or ``None``."""
    if not status.is_terminal:
        return None
    at = tx.value("SELECT MAX(ts) FROM events WHERE objective_id = ? AND kind = 'objective_status'", (objective_id,))
    return float(at) if at is not None else updated_at


def _cost(tx: Tx, objective_id: str) -> tuple[CostSample, ...]:
    count = int(tx.value("SELECT COUNT(*) FROM objective_cost WHERE objective_id = ?", (objective_id,)))
    if count == 0:
        return ()
    step = max(1, math.ceil((count - 1) / (TIMELINE_COST_SAMPLES - 2))) if count > TIMELINE_COST_SAMPLES else 1
    rows = tx.rows(_COST_SQL, (objective_id, step, count))
    return tuple(CostSample(at=r["at"], cost_usd=r["cost_usd"]) for r in rows)


class TimelineMixin:
    _db: Database

    def objective_timeline(self, objective_id: str) -> Timeline:
        """The objective over time (see the module's docstring); raises ``NotFoundError`` for an unknown id."""
        with self._db.read() as tx:
            objective = load_objective(tx, objective_id)
            sessions = tuple(
                TimelineSession(
                    id=r["id"],
                    role=SessionRole(r["role"]),
                    agent=r["agent"],
                    task=r["task"],
                    status=SessionStatus(r["status"]),
                    started_at=r["started_at"],
                    ended_at=r["ended_at"],
                )
                for r in tx.rows(_SESSIONS_SQL, (objective_id,))
            )
            markers = tuple(
                TimelineMarker(
                    kind=r["kind"],
                    at=r["at"],
                    id=r["id"],
                    label=oneline.first_line(r["label"]) or "",
                    session_id=r["session_id"],
                )
                for r in tx.rows(_MARKERS_SQL, (objective_id,) * 3)
            )
            return Timeline(
                objective=TimelineObjective(
                    id=objective.id,
                    title=objective.title,
                    status=objective.status,
                    created_at=objective.created_at,
                    ended_at=_ended_at(tx, objective_id, objective.status, objective.updated_at),
                ),
                sessions=sessions,
                markers=markers,
                cost=_cost(tx, objective_id),
            )
