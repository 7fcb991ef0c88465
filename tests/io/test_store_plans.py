"""The store's hot statements find their rows through an index that fits, on a database with no statistics.

orcha runs no ``ANALYZE``: SQLite plans with its defaults, and may then prefer an index on a column of few
values (a session's role) to the objective's, reading every worker in history for a count of one objective's
live ones. Every statement a session's life runs through the store is traced and planned here; none may read
``sessions`` by role alone or scan it whole.
"""

from __future__ import annotations

import re

import apsw
import pytest

from orcha.io.store import Store
from orcha.model import SessionMode, SessionRole, SessionStatus
from tests.conftest import make_target, make_worker

S = SessionStatus
WHOLE_HISTORY = re.compile(r"SCAN (sessions|s|w)\b(?! USING COVERING)|sessions_by_role_status \(role=\?\)$")
"""A plan step that reads every session (of a role) ever recorded."""


def _traced(store: Store) -> list[str]:
    seen: list[str] = []

    def tracer(_cursor: apsw.Cursor, sql: str, _bindings: object) -> bool:
        seen.append(sql)
        return True

    store._db.conn.exec_trace = tracer
    return seen


def _plan(store: Store, sql: str) -> list[str]:
    conn = store._db.conn
    conn.exec_trace = None
    return [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, [None] * sql.count("?"))]


def _history(store: Store, objectives: int = 30, per_objective: int = 10) -> None:
    """Finished objectives of finished workers, in by raw SQL (as years of use leave them)."""
    conn = store._db.conn
    with conn:
        for o in range(objectives):
            conn.execute(
                "INSERT INTO objectives (id, title, prompt, agent, status, created_at, updated_at)"
                " VALUES (?, 't', 'p', 'fake', 'done', ?, ?)",
                (f"obj_old{o}", o, o),
            )
            for k in range(per_objective):
                conn.execute(
                    "INSERT INTO sessions (id, objective_id, role, agent, prompt, status, mode, created_at,"
                    " updated_at, num) VALUES (?, ?, 'worker', 'fake', 'p', 'completed', 'noninteractive', ?, ?,"
                    " (SELECT COALESCE(MAX(num), 0) + 1 FROM sessions))",
                    (f"ses_old{o}_{k}", f"obj_old{o}", o, o),
                )


def test_a_session_life_reads_no_session_by_role_alone_and_scans_none(store):
    _history(store)
    assert store._db.conn.execute("SELECT COUNT(*) FROM sqlite_master WHERE name = 'sqlite_stat1'").fetchall() == [(0,)]
    target = make_target(store, capacity=4)
    seen = _traced(store)
    objective, manager = store.create_objective(title="t", prompt="p", agent="fake")
    worker = make_worker(store, objective.id)
    store.scheduling_view(waiting_workers=16)
    store.claim_target_slot(target.id, worker.id)
    store.start_running(worker.id, reason="placed", mode=SessionMode.NONINTERACTIVE, agent="fake")
    store.start_running(manager.id, reason="placed", mode=SessionMode.INTERACTIVE, agent="fake")
    store.set_session_fields(worker.id, provider_session_id="p1")
    store.add_team_notice(objective.id, "progress", "a worker said something")
    store.manager_wake(objective.id)
    store.list_team(objective.id)
    store.dashboard()
    store.dashboard_row("session", manager.id)
    store.end_session(worker.id, S.COMPLETED, reason="done", only_if_objective_active=True)
    store.get_session(worker.id)
    store.list_sessions(objective_id=objective.id)
    statements = list(dict.fromkeys(s for s in seen if re.match(r"(?is)\s*(select|update|delete|insert|with)", s)))
    assert len(statements) > 15  # the life above, traced
    whole = {sql: steps for sql in statements if (steps := [p for p in _plan(store, sql) if WHOLE_HISTORY.search(p)])}
    assert whole == {}


@pytest.mark.parametrize("role", [SessionRole.WORKER, SessionRole.MANAGER])
def test_the_check_itself_catches_a_count_by_role(store, role):
    """The plan check above is not vacuous: the plain statement it guards against is flagged."""
    sql = f"SELECT COUNT(*) FROM sessions WHERE objective_id = ? AND role = '{role}' AND status != 'completed'"
    assert any(WHOLE_HISTORY.search(p) for p in _plan(store, sql))
