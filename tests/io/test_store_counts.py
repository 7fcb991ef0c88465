"""The counts the store's triggers keep: each target's claimed slots and the sessions of each role and status
(what a scheduler tick reads instead of counting every live session's row)."""

from __future__ import annotations

import itertools

import apsw
import pytest

from orcha.errors import StoreError
from orcha.io.store import Store
from orcha.io.store._schema import MIGRATIONS
from orcha.model import SessionMode, SessionRole, SessionStatus
from tests.conftest import make_target, make_worker
from tests.io.old_schema import database_at

S = SessionStatus


def _counts(store: Store) -> dict[tuple[str, str], int]:
    return {(role, status): n for role, status, n in store._db.conn.execute("SELECT * FROM session_counts")}


def test_every_role_and_status_of_the_model_has_its_count():
    """A status added to the model needs a migration adding its rows (else writing it is refused, below)."""
    with Store(":memory:") as store:
        assert set(_counts(store)) == {(str(r), str(s)) for r, s in itertools.product(SessionRole, SessionStatus)}


def test_a_session_of_a_status_the_store_does_not_count_is_refused_and_nothing_drifts(store):
    _, manager = store.create_objective(title="t", prompt="p", agent="fake")
    before = _counts(store)
    with pytest.raises(apsw.ConstraintError, match="does not count"):
        store._db.conn.execute("UPDATE sessions SET status = 'sleeping' WHERE id = ?", (manager.id,))
    assert store.get_session(manager.id).status is S.QUEUED
    assert _counts(store) == before


def test_counts_follow_a_life_and_a_store_call_that_fails_midway(store):
    target = make_target(store, capacity=1)
    objective, _ = store.create_objective(title="t", prompt="p", agent="fake")
    workers = [make_worker(store, objective.id) for _ in range(3)]
    assert store.count_sessions({S.QUEUED}) == 4
    assert store.count_sessions({S.QUEUED}, role=SessionRole.WORKER) == 3
    store.claim_target_slot(target.id, workers[0].id)
    assert store.target_loads() == {target.id: 1}
    with pytest.raises(StoreError), store._db.write() as tx:  # a second slot for one session: all rolled back
        tx.execute(
            "INSERT INTO target_slots (session_id, target_id, claimed_at) VALUES (?, ?, 0)",
            (workers[1].id, target.id),
        )
        tx.execute(
            "INSERT INTO target_slots (session_id, target_id, claimed_at) VALUES (?, ?, 0)",
            (workers[1].id, target.id),
        )
    assert store.target_loads() == {target.id: 1}
    store.start_running(workers[0].id, reason="placed", mode=SessionMode.NONINTERACTIVE, agent="fake")
    assert store.scheduling_view().live_workers == 1
    store.end_session(workers[0].id, S.COMPLETED, reason="done")
    assert store.target_loads() == {}
    assert store.count_sessions({S.COMPLETED}) == 1
    assert store.count_sessions({S.QUEUED, S.COMPLETED}) == 4
    view = store.scheduling_view()
    assert (view.live_workers, view.live_managers, view.loads) == (0, 0, {})


def test_migrating_counts_what_the_database_holds(db_path):
    version = next(n for n, (name, _) in enumerate(MIGRATIONS) if name.startswith("each target's claimed slots"))
    conn = database_at(db_path, version)
    conn.execute(
        "INSERT INTO targets (id, name, kind, work_root, capacity_sessions, status, created_at, updated_at)"
        " VALUES ('tgt_1', 'local', 'local', '/w', 4, 'online', 0, 0)"
    )
    rows = [("ses_1", "manager", "running"), ("ses_2", "worker", "running"), ("ses_3", "worker", "completed")]
    for num, (session_id, role, status) in enumerate(rows, start=1):
        conn.execute(
            "INSERT INTO sessions (id, objective_id, role, agent, prompt, status, mode, created_at, updated_at, num)"
            " VALUES (?, 'obj_1', ?, 'fake', 'p', ?, 'interactive', 0, 0, ?)",
            (session_id, role, status, num),
        )
    conn.execute("INSERT INTO target_slots (session_id, target_id, claimed_at) VALUES ('ses_2', 'tgt_1', 0)")
    conn.pragma("user_version", version)
    conn.close()
    with Store(db_path) as migrated:
        assert migrated.target_loads() == {"tgt_1": 1}
        assert migrated.count_sessions({S.RUNNING}) == 2
        assert migrated.count_sessions({S.RUNNING}, role=SessionRole.WORKER) == 1
        assert migrated.count_sessions({S.COMPLETED}) == 1
        view = migrated.scheduling_view()
        assert (view.live_workers, view.live_managers) == (1, 1)
