"""The counts the store's triggers keep: each target's claimed slots and each role's live sessions (what a
scheduler tick reads instead of counting every live session's row)."""

from __future__ import annotations

import pytest

from orcha.errors import StoreError
from orcha.io.store import Store
from orcha.io.store._schema import MIGRATIONS
from orcha.model import SessionMode, SessionRole, SessionStatus
from orcha.scheduling import LIVE_STATUSES
from tests.conftest import make_target, make_worker
from tests.io.old_schema import database_at

S = SessionStatus


def _live(store: Store) -> tuple[int, int]:
    view = store.scheduling_view()
    return view.live_workers, view.live_managers


@pytest.mark.parametrize("status", list(SessionStatus))
def test_a_database_written_by_another_program_is_recounted_at_open(db_path, status):
    """The count is kept by the store's status write; rows written around it (another program, an older
    orcha) are counted again when a store opens the file: live exactly as ``scheduling.LIVE_STATUSES`` says."""
    with Store(db_path) as store:
        objective, manager = store.create_objective(title="t", prompt="p", agent="fake")
        worker = make_worker(store, objective.id)
        conn = store._db.conn
        conn.execute("UPDATE sessions SET status = ? WHERE id IN (?, ?)", (str(status), worker.id, manager.id))
        conn.execute(
            "INSERT INTO sessions (id, objective_id, role, agent, prompt, status, mode, created_at, updated_at, num)"
            " VALUES ('ses_raw', ?, 'worker', 'fake', 'p', ?, 'interactive', 0, 0, 99)",
            (objective.id, str(status)),
        )
    with Store(db_path, readonly=True) as reader:
        assert _live(reader) == (0, 0)  # (a reader does not write: the last writer's count)
    with Store(db_path) as store:
        assert _live(store) == ((2, 1) if status in LIVE_STATUSES else (0, 0))


def test_every_move_of_the_store_keeps_the_count(store):
    objective, manager = store.create_objective(title="t", prompt="p", agent="fake")
    worker = make_worker(store, objective.id)
    for status in (S.WAITING_CAPACITY, S.STARTING, S.RUNNING, S.PAUSED, S.RUNNING, S.WAITING_INPUT, S.RUNNING):
        store.update_session_status(worker.id, status, reason="r")
        assert _live(store) == ((1, 0) if status in LIVE_STATUSES else (0, 0))
    store.start_running(manager.id, reason="placed", mode=SessionMode.INTERACTIVE, agent="fake")
    assert _live(store) == (1, 1)
    store.end_session(worker.id, S.FAILED, reason="boom")
    store.update_session_status(manager.id, S.CANCELED, reason="r")
    assert _live(store) == (0, 0)


def test_counts_follow_a_life_and_a_store_call_that_fails_midway(store):
    target = make_target(store, capacity=1)
    objective, _ = store.create_objective(title="t", prompt="p", agent="fake")
    workers = [make_worker(store, objective.id) for _ in range(3)]
    store.claim_target_slot(target.id, workers[0].id)
    assert store.target_loads() == {target.id: 1}
    with pytest.raises(StoreError), store._db.write() as tx:  # a second slot for one session: all rolled back
        tx.execute(
            "INSERT INTO target_slots (session_id, target_id, claimed_at) VALUES (?, ?, 0)", (workers[1].id, target.id)
        )
        tx.execute(
            "INSERT INTO target_slots (session_id, target_id, claimed_at) VALUES (?, ?, 0)", (workers[1].id, target.id)
        )
    assert store.target_loads() == {target.id: 1}
    store.start_running(workers[0].id, reason="placed", mode=SessionMode.NONINTERACTIVE, agent="fake")
    assert _live(store) == (1, 0)
    store.end_session(workers[0].id, S.COMPLETED, reason="done")
    assert store.target_loads() == {}
    view = store.scheduling_view()
    assert (view.live_workers, view.live_managers, view.loads) == (0, 0, {})


def test_migrating_counts_what_the_database_holds(db_path):
    version = next(n for n, (name, _) in enumerate(MIGRATIONS) if name.startswith("each target's claimed slots"))
    conn = database_at(db_path, version)
    conn.execute(
        "INSERT INTO targets (id, name, kind, work_root, capacity_sessions, status, created_at, updated_at)"
        " VALUES ('tgt_1', 'local', 'local', '/w', 4, 'online', 0, 0)"
    )
    rows = [("ses_1", "manager", "running"), ("ses_2", "worker", "paused"), ("ses_3", "worker", "completed")]
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
        assert _live(migrated) == (1, 1)
        assert migrated.count_sessions({S.RUNNING, S.PAUSED}, role=SessionRole.WORKER) == 1
