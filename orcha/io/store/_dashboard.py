"""The dashboard query: small rows in one snapshot, never a column of the transcript table."""

from __future__ import annotations

import json
from collections.abc import Callable

from orcha.errors import InvalidInputError
from orcha.io.store import _rows
from orcha.io.store._db import Database, Row
from orcha.model import (
    Audience,
    ObjectiveStatus,
    PRState,
    SessionMode,
    SessionRole,
    SessionStatus,
    TargetKind,
    TargetStatus,
)
from orcha.views import (
    HISTORY_PAGE,
    MAX_HISTORY_PAGE,
    REASON_CHARS,
    Dashboard,
    DashboardRow,
    HistoryPage,
    ObjectiveRow,
    PRRow,
    QuestionRow,
    SessionRow,
    TargetRow,
)

# Live work always (every active objective), then a page of history (ended objectives, the latest first).
_OBJECTIVES_SQL = """
    SELECT o.id, o.title, o.agent, o.status, o.created_at, o.updated_at,
           (SELECT COALESCE(SUM(s.cost_usd), 0) FROM sessions s WHERE s.objective_id = o.id) AS cost_usd,
           (SELECT COALESCE(SUM(s.model_calls), 0) FROM sessions s WHERE s.objective_id = o.id) AS model_calls
    FROM objectives o
    WHERE o.id IN (SELECT o.id FROM objectives o WHERE {where} ORDER BY o.updated_at DESC, o.id DESC LIMIT ?)
    ORDER BY o.updated_at DESC, o.id DESC
"""
# the page is chosen first (an index walk, newest first), so the sums are computed for its rows alone
_HISTORY_WHERE = "o.status != 'active' AND (o.updated_at, o.id) < (SELECT updated_at, id FROM objectives WHERE id = ?)"
RECENT_ENDED_SESSIONS = 10
"""How many of an objective's ended sessions the dashboard shows (its newest), beside every live one."""
_TERMINAL = "('completed', 'failed', 'canceled')"


def _cut(column: str) -> str:
    """``column`` cut to :data:`REASON_CHARS` characters, an ellipsis marking the cut."""
    keep = REASON_CHARS - 1
    return f"CASE WHEN length({column}) > {REASON_CHARS} THEN substr({column}, 1, {keep}) || '…' ELSE {column} END"


_SESSIONS_SQL = (
    """
    SELECT s.id, s.objective_id, s.role, s.agent, s.status, s.mode, s.target_id, s.workspace_id,
           s.attach_command, {pause_reason} AS pause_reason, s.model_calls, s.errors,
           s.input_tokens, s.output_tokens,
           s.cost_usd, {transcript_seq} AS transcript_seq, s.updated_at,
           (SELECT url FROM pull_requests p WHERE p.session_id = s.id ORDER BY p.created_at DESC LIMIT 1) AS pr_url,
           CASE WHEN s.role = 'manager' THEN (SELECT COUNT(*) FROM sessions w WHERE w.objective_id = s.objective_id
                AND w.status IN {not_ended} AND +w.role = 'worker') ELSE 0 END
               AS live_workers,
           {status_reason} AS status_reason, s.created_at, s.task,
           n.now, n.last_output_at, s.started_at, s.ended_at,
           (SELECT branch FROM workspaces ws WHERE ws.id = s.workspace_id) AS branch
    FROM sessions s LEFT JOIN session_now n ON n.session_id = s.id WHERE {where}
    ORDER BY s.created_at, s.rowid
""".replace("{pause_reason}", _cut("s.pause_reason"))
    .replace("{status_reason}", _cut("s.status_reason"))
    .replace("{transcript_seq}", _rows.transcript_seq_sql("s"))
    .replace("{not_ended}", _rows.NOT_ENDED)
)
_TARGETS_SQL = """
    SELECT t.id, t.name, t.kind, t.host, t.status, t.capacity_sessions,
           substr(t.status_reason, 1, 500) AS status_reason, t.host_key,
           COALESCE((SELECT l.slots FROM target_loads l WHERE l.target_id = t.id), 0) AS load
    FROM targets t WHERE {where} ORDER BY t.created_at, t.name
"""
_QUESTIONS_SQL = """
    SELECT q.id, q.objective_id, q.asked_by, q.audience, substr(q.text, 1, 500) AS text, q.created_at,
           substr(o.title, 1, 500) AS objective_title,
           (SELECT s.task FROM sessions s WHERE s.id = q.asked_by) AS asked_by_task
    FROM questions q JOIN objectives o ON o.id = q.objective_id
    WHERE q.status = 'open' AND {where} ORDER BY q.created_at LIMIT 200
"""
_PRS_SQL = """
    SELECT id, objective_id, session_id, url, number, branch, state FROM pull_requests
    WHERE {where} ORDER BY created_at
"""
_IN_SHOWN = "objective_id IN (SELECT value FROM json_each(?))"
_LIVE_SESSIONS = f"s.objective_id = ? AND s.status IN {_rows.NOT_ENDED}"
_ENDED_SESSIONS = f"""s.id IN (SELECT id FROM sessions WHERE objective_id = ? AND status IN {_TERMINAL}
                           ORDER BY updated_at DESC LIMIT {RECENT_ENDED_SESSIONS})"""
_SHOWN_PRS = """id IN (
    SELECT id FROM pull_requests WHERE state = 'open' AND objective_id IN (SELECT value FROM json_each(?))
    UNION SELECT id FROM pull_requests WHERE session_id IN (SELECT value FROM json_each(?)))"""


def _objective(r: Row) -> ObjectiveRow:
    return ObjectiveRow(
        id=r["id"],
        title=r["title"],
        agent=r["agent"],
        status=ObjectiveStatus(r["status"]),
        created_at=r["created_at"],
        updated_at=r["updated_at"],
        cost_usd=r["cost_usd"],
        model_calls=r["model_calls"],
    )


def _session(r: Row) -> SessionRow:
    return SessionRow(
        id=r["id"],
        objective_id=r["objective_id"],
        role=SessionRole(r["role"]),
        agent=r["agent"],
        status=SessionStatus(r["status"]),
        mode=SessionMode(r["mode"]),
        target_id=r["target_id"],
        workspace_id=r["workspace_id"],
        pr_url=r["pr_url"],
        attach_command=r["attach_command"],
        pause_reason=r["pause_reason"],
        usage=_rows.usage(r),
        transcript_lines=r["transcript_seq"],
        updated_at=r["updated_at"],
        live_workers=r["live_workers"],
        waiting_for=(r["pause_reason"] or r["status_reason"]) if r["status"] in ("waiting_input", "paused") else None,
        status_reason=r["status_reason"],
        created_at=r["created_at"],
        task=r["task"],
        now=r["now"],
        last_output_at=r["last_output_at"],
        started_at=r["started_at"],
        ended_at=r["ended_at"],
        branch=r["branch"],
    )


def _target(r: Row) -> TargetRow:
    return TargetRow(
        id=r["id"],
        name=r["name"],
        kind=TargetKind(r["kind"]),
        host=r["host"],
        status=TargetStatus(r["status"]),
        capacity_sessions=r["capacity_sessions"],
        load=r["load"],
        status_reason=r["status_reason"],
        host_key=r["host_key"],
    )


def _question(r: Row) -> QuestionRow:
    return QuestionRow(
        id=r["id"],
        objective_id=r["objective_id"],
        asked_by=r["asked_by"],
        audience=Audience(r["audience"]),
        text=r["text"],
        created_at=r["created_at"],
        objective_title=r["objective_title"],
        asked_by_task=r["asked_by_task"] or None,
    )


def _pr(r: Row) -> PRRow:
    return PRRow(
        id=r["id"],
        objective_id=r["objective_id"],
        session_id=r["session_id"],
        url=r["url"],
        number=r["number"],
        branch=r["branch"],
        state=PRState(r["state"]),
    )


class DashboardMixin:
    _db: Database

    def dashboard(self, *, history_limit: int = HISTORY_PAGE, history_before: str | None = None) -> Dashboard:
        """What is live, whatever the history: every active objective, its live sessions and the newest of its
        ended ones, their PRs and every open PR, all targets with load, and open questions. Then one page of
        history: ``history_limit`` ended objectives (their rows only), the newest first, or those that ended
        before the objective ``history_before`` (the page's ``next_before``). With ``history_limit`` 0, ``more``
        says whether there is history there and ``next_before`` is the cursor to start from (``history_before``,
        or ``None``: from the newest)."""
        if not 0 <= history_limit <= MAX_HISTORY_PAGE:
            raise InvalidInputError(f"history_limit must be between 0 and {MAX_HISTORY_PAGE}", field="history_limit")
        with self._db.read() as tx:
            active = [_objective(r) for r in tx.rows(_OBJECTIVES_SQL.format(where="o.status = 'active'"), (-1,))]
            where, params = "o.status != 'active'", list[object]([history_limit + 1])
            if history_before is not None:
                if tx.value("SELECT 1 FROM objectives WHERE id = ?", (history_before,)) is None:
                    raise InvalidInputError(
                        f"history_before names no objective: {history_before!r}", field="history_before"
                    )
                where, params = _HISTORY_WHERE, [history_before, history_limit + 1]
            ended = [_objective(r) for r in tx.rows(_OBJECTIVES_SQL.format(where=where), params)]
            more = len(ended) > history_limit
            ended = ended[:history_limit]
            sessions: list[SessionRow] = []
            # live work is always shown: a session still ending (a manager finishing its turn) after its
            # objective ended too
            shown = [(o.id, (_LIVE_SESSIONS, _ENDED_SESSIONS)) for o in (*active, *ended)]
            for objective_id, clauses in shown:
                for clause in clauses:
                    sessions.extend(_session(r) for r in tx.rows(_SESSIONS_SQL.format(where=clause), (objective_id,)))
            sessions.sort(key=lambda s: s.created_at)
            shown_sessions = json.dumps([s.id for s in sessions])
            shown_objectives = json.dumps([o.id for o in (*active, *ended)])
            prs = [_pr(r) for r in tx.rows(_PRS_SQL.format(where=_SHOWN_PRS), (shown_objectives, shown_sessions))]
            return Dashboard(
                objectives=(*active, *ended),
                sessions=tuple(sessions),
                targets=tuple(_target(r) for r in tx.rows(_TARGETS_SQL.format(where="1"))),
                open_questions=tuple(_question(r) for r in tx.rows(_QUESTIONS_SQL.format(where="1"))),
                pull_requests=tuple(prs),
                history=HistoryPage(shown=len(ended), more=more, next_before=_next_before(ended, more, history_before)),
            )

    def dashboard_row(self, kind: str, ident: str) -> DashboardRow | None:
        """The dashboard's row for one changed thing (``None`` when it is gone, e.g. an answered question)."""
        queries: dict[str, tuple[str, tuple[object, ...], Callable[[Row], DashboardRow]]] = {
            "objective": (_OBJECTIVES_SQL.format(where="o.id = ?"), (ident, 1), _objective),
            "session": (_SESSIONS_SQL.format(where="s.id = ?"), (ident,), _session),
            "target": (_TARGETS_SQL.format(where="t.id = ?"), (ident,), _target),
            "question": (_QUESTIONS_SQL.format(where="q.id = ?"), (ident,), _question),
            "pr": (_PRS_SQL.format(where="id = ?"), (ident,), _pr),
        }
        if kind not in queries:
            raise InvalidInputError(f"no dashboard rows of kind {kind!r}", field="kind")
        sql, params, make = queries[kind]
        with self._db.read() as tx:
            row = tx.row(sql, params)
        return make(row) if row is not None else None


def _next_before(ended: list[ObjectiveRow], more: bool, history_before: str | None) -> str | None:
    """The cursor of the next history page: after the last shown, or where this (empty) page started."""
    if not more:
        return None
    return ended[-1].id if ended else history_before
