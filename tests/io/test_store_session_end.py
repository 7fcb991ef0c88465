"""A session's end in one write: the status, a worker's notice to its manager, and (when nothing of it runs)
its recorded processes forgotten, all in the transaction that ends it, or none of it."""

from __future__ import annotations

import pytest

from orcha.errors import InvalidInputError, InvalidTransitionError, ObjectiveEndedError
from orcha.model import ObjectiveStatus, SessionStatus
from orcha.processes import ProcessIdentity
from tests.conftest import make_target, make_worker

S = SessionStatus
BOOT = "a7f0dda0-a692-4c31-9066-ec42593dde97"


def _running(store, session_id: str) -> None:
    for status in (S.STARTING, S.RUNNING):
        store.update_session_status(session_id, status)


def test_a_workers_end_tells_its_manager_in_the_same_write_with_the_count_of_live_workers(store):
    objective, manager = store.create_objective(title="t", prompt="p", agent="fake")
    first, second = make_worker(store, objective.id), make_worker(store, objective.id)
    _running(store, first.id)
    end = store.end_session(first.id, S.COMPLETED, reason="all   done\nhere", only_if_objective_active=True)
    assert end.session.status is S.COMPLETED and end.session.ended_at is not None
    assert end.live_workers == 1  # the other worker; the manager is not counted
    notices = store.pending_notices(objective.id)
    assert [(n.id, n.kind, n.text) for n in notices] == [
        (end.notice_id, "worker_completed", f"Worker {first.id} completed: all done here")
    ]
    last = store.end_session(second.id, S.CANCELED, reason=None)
    assert last.live_workers == 0 and last.notice_id is not None and last.notice_id > (end.notice_id or 0)
    assert store.pending_notices(objective.id)[-1].text == f"Worker {second.id} was canceled: no message"
    ended = store.end_session(manager.id, S.CANCELED, reason="objective canceled")
    assert (ended.notice_id, ended.live_workers) == (None, None)  # a manager's end tells nobody
    assert len(store.pending_notices(objective.id)) == 2


def test_once_the_objective_has_ended_the_end_is_written_and_nobody_is_told(store):
    objective, _ = store.create_objective(title="t", prompt="p", agent="fake")
    worker = make_worker(store, objective.id)
    store.finish_objective(objective.id, ObjectiveStatus.CANCELED)
    end = store.end_session(worker.id, S.CANCELED, reason="objective canceled")
    assert end.session.status is S.CANCELED and end.notice_id is None and end.live_workers == 0
    assert store.pending_notices(objective.id) == []


def test_an_end_that_is_refused_writes_nothing_neither_status_nor_notice_nor_forgetting(store):
    objective, _ = store.create_objective(title="t", prompt="p", agent="fake")
    worker, other = make_worker(store, objective.id), make_worker(store, objective.id)
    target = make_target(store)
    store.record_owned_process(worker.id, target.id, ProcessIdentity(pgid=4242, start_time=887015, boot_id=BOOT))
    store.end_session(worker.id, S.FAILED, reason="boom", forget_processes=True)
    with pytest.raises(InvalidTransitionError):  # out of a terminal status: refused, nothing written
        store.end_session(worker.id, S.COMPLETED, reason="late")
    assert store.get_session(worker.id).status is S.FAILED
    assert len(store.pending_notices(objective.id)) == 1
    with pytest.raises(InvalidInputError, match="not an end"):
        store.end_session(other.id, S.RUNNING)
    store.finish_objective(objective.id, ObjectiveStatus.DONE)
    store.record_owned_process(other.id, target.id, ProcessIdentity(pgid=4343, start_time=887016, boot_id=BOOT))
    with pytest.raises(ObjectiveEndedError):  # the end waits on an active objective: none left
        store.end_session(other.id, S.COMPLETED, only_if_objective_active=True, forget_processes=True)
    assert store.get_session(other.id).status is S.QUEUED
    assert [p.session_id for p in store.list_owned_processes()] == [other.id]  # still recorded
    assert len(store.pending_notices(objective.id)) == 1


def test_the_recorded_processes_go_with_the_end_only_when_asked(store):
    objective, _ = store.create_objective(title="t", prompt="p", agent="fake")
    kept, forgotten = make_worker(store, objective.id), make_worker(store, objective.id)
    target = make_target(store)
    for n, session in enumerate((kept, forgotten)):
        store.record_owned_process(
            session.id, target.id, ProcessIdentity(pgid=5000 + n, start_time=1000 + n, boot_id=BOOT)
        )
    store.end_session(kept.id, S.CANCELED)  # something of it may still run: its records stay for the sweep
    store.end_session(forgotten.id, S.CANCELED, forget_processes=True)
    assert [p.session_id for p in store.list_owned_processes()] == [kept.id]


def test_what_a_move_returns_is_what_a_fresh_read_finds_through_every_kind_of_move(store):
    """A move returns the session it read with the write applied (no second read): equal, field for field, to
    the session read afresh, through starts, pauses (with and without a reason of their own), the resume that
    clears the pause, a restart that keeps the first start's time, and the end."""
    from orcha.model import SessionMode

    objective, _ = store.create_objective(title="t", prompt="p", agent="fake")
    worker = make_worker(store, objective.id)
    moves = [
        (S.WAITING_CAPACITY, {"reason": "no room"}),
        (S.STARTING, {"reason": "placed on local"}),
        (S.RUNNING, {"mode": SessionMode.NONINTERACTIVE, "agent": "other"}),
        (S.PAUSED, {"reason": "loop guard"}),
        (S.RUNNING, {}),
        (S.PAUSED, {"reason": "quota", "pause_reason": "provider exhausted until 5pm"}),
        (S.QUEUED, {"reason": "restarted"}),
        (S.STARTING, {}),
        (S.RUNNING, {}),
    ]
    started_at = None
    for status, fields in moves:
        moved = store.update_session_status(worker.id, status, **fields)
        assert moved == store.get_session(worker.id), status
        started_at = started_at or moved.started_at
    assert moved.started_at == started_at is not None  # the first start's, kept
    end = store.end_session(worker.id, S.COMPLETED, reason="done")
    assert end.session == store.get_session(worker.id) and end.session.ended_at is not None


def test_what_recording_a_sessions_fields_returns_is_what_a_fresh_read_finds(store):
    from orcha.model import SessionMode

    objective, _ = store.create_objective(title="t", prompt="p", agent="fake")
    worker = make_worker(store, objective.id)
    target = make_target(store)
    for fields in (
        {},
        {"provider_session_id": "psid-1", "attach_command": "codex resume psid-1"},
        {"mode": SessionMode.NONINTERACTIVE, "agent": "other", "target_id": target.id},
        {"waiting_question": "q_1"},
        {"waiting_question": None},
    ):
        assert store.set_session_fields(worker.id, **fields) == store.get_session(worker.id), fields
