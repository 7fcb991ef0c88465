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
from orcha.model import SessionMode, SessionStatus
from tests.conftest import make_target, make_worker

S = SessionStatus
ROLE_ALONE = "INDEX sessions_by_role_status (role=?)"


def _whole_history(sql: str, step: str) -> bool:
    """Whether a plan step of ``sql`` reads every session (of a role) ever recorded: a scan of ``sessions``
    (under any alias the statement gives it), an index SQLite builds on it for the statement, or a search of
    it by role alone."""
    names = {"sessions", *re.findall(r"(?:FROM|JOIN)\s+sessions\s+(?:AS\s+)?(\w+)", sql, flags=re.IGNORECASE)}
    scanned = re.match(r"SCAN (\w+)\b", step) or re.match(r"SEARCH (\w+)\b.* AUTOMATIC ", step)
    return step.endswith(ROLE_ALONE) or (scanned is not None and scanned.group(1) in names)


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


def _history(store: Store, objectives: int = 30, per_objective: int = 10, *, first: int = 0) -> None:
    """Finished objectives of finished workers, in by raw SQL (as years of use leave them)."""
    conn = store._db.conn
    with conn:
        for o in range(first, first + objectives):
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
    store.prunable_workspaces()  # (``orcha prune``: once per workspace, a look for its live sessions)
    statements = list(dict.fromkeys(s for s in seen if re.match(r"(?is)\s*(select|update|delete|insert|with)", s)))
    assert len(statements) > 15  # the life above, traced
    whole = {sql: steps for sql in statements if (steps := [p for p in _plan(store, sql) if _whole_history(sql, p)])}
    assert whole == {}


def test_an_objectives_live_sessions_are_looked_up_by_status_not_read_among_its_ended_ones(store):
    """Counting an objective's live workers (at every worker's end, every team notice, every manager row of
    the dashboard) costs its live sessions, not its whole team: ``status IN`` the live ones, in the index on
    ``(objective_id, status)``."""
    objective, _ = store.create_objective(title="t", prompt="p", agent="fake")
    worker = make_worker(store, objective.id)
    seen = _traced(store)
    store.end_session(worker.id, S.CANCELED, reason="r")
    store.manager_wake(objective.id)
    counts = [sql for sql in seen if "FROM sessions" in sql and "'worker'" in sql]
    assert len(counts) == 2
    for sql in counts:
        assert any("sessions_by_objective_status (objective_id=? AND status=?)" in p for p in _plan(store, sql)), sql


def _vm_steps(store: Store, call) -> int:
    """How many SQLite VM instructions ``call`` runs (a count the machine's speed does not change)."""
    steps = 0

    def counted() -> bool:
        nonlocal steps
        steps += 1
        return False

    store._db.conn.set_progress_handler(counted, 1)
    try:
        call()
    finally:
        store._db.conn.set_progress_handler(None)
    return steps


def test_inserting_a_session_costs_the_same_whatever_the_history(store):
    """What a plan cannot show: run, a session's insert (its foreign keys' checks, its number, its events)
    costs the same with 30 sessions of history as with 3,000 (counted in SQLite's VM instructions; a scan
    of ``sessions`` in it, e.g. by a trigger, costs thousands more)."""
    objective, _ = store.create_objective(title="t", prompt="p", agent="fake")
    _history(store, objectives=3, per_objective=10)
    small = _vm_steps(store, lambda: make_worker(store, objective.id))
    _history(store, objectives=300, per_objective=10, first=3)
    large = _vm_steps(store, lambda: make_worker(store, objective.id))
    assert small > 100
    assert large <= small + 20


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT id FROM sessions WHERE role = 'worker' AND task = ?",
        "SELECT COUNT(*) FROM sessions s WHERE s.task = ?",
        "SELECT w.id FROM workspaces w WHERE EXISTS (SELECT 1 FROM sessions x WHERE x.workspace_id = w.id)",
        "SELECT COUNT(*) FROM sessions WHERE status NOT IN ('completed', 'failed', 'canceled')",  # a covering scan
        "SELECT COUNT(*) FROM sessions WHERE role = 'worker' AND status NOT IN ('completed')",  # covering, by role
    ],
)
def test_the_check_itself_catches_a_read_of_every_session(store, sql):
    """The plan check above is not vacuous: statements that read every session are flagged."""
    assert any(_whole_history(sql, p) for p in _plan(store, sql))


def test_the_check_lets_other_tables_be_scanned(store):
    sql = "SELECT w.id FROM workspaces w WHERE w.path IS NOT NULL"
    assert _plan(store, sql) == ["SCAN w"] and not _whole_history(sql, "SCAN w")
