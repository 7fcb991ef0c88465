"""Owned processes in the store: recorded per session before they run, forgotten one by one or per session."""

from __future__ import annotations

import pytest

from orcha.errors import InvalidInputError, NotFoundError
from orcha.model import SessionStatus
from orcha.processes import OwnedProcess, ProcessIdentity
from tests.conftest import make_target, make_worker

BOOT = "a7f0dda0-a692-4c31-9066-ec42593dde97"
HEADLESS = ProcessIdentity(pgid=4242, start_time=887015, boot_id=BOOT)
PANE = ProcessIdentity(pgid=5151, start_time=990000, boot_id=BOOT, kind="tmux", tmux_session="orcha-ses_1")


@pytest.fixture
def rows(store):
    objective, manager = store.create_objective(title="t", prompt="p", agent="fake")
    return manager, make_worker(store, objective.id), make_target(store)


def test_a_recorded_process_is_listed_with_its_session_and_target(store, rows):
    manager, worker, target = rows
    owned = store.record_owned_process(worker.id, target.id, HEADLESS)
    assert owned == OwnedProcess(
        session_id=worker.id, target_id=target.id, identity=HEADLESS, created_at=owned.created_at
    )
    store.record_owned_process(manager.id, target.id, PANE)
    listed = store.list_owned_processes()
    assert listed[0] == owned
    assert [(p.session_id, p.target_id, p.identity) for p in listed] == [
        (worker.id, target.id, HEADLESS),
        (manager.id, target.id, PANE),
    ]


def test_recording_the_same_group_again_replaces_it(store, rows):
    _, worker, target = rows
    store.record_owned_process(worker.id, target.id, HEADLESS)
    again = ProcessIdentity(pgid=HEADLESS.pgid, start_time=HEADLESS.start_time + 1, boot_id=BOOT)
    store.record_owned_process(worker.id, target.id, again)
    assert [p.identity for p in store.list_owned_processes()] == [again]


def test_processes_are_forgotten_one_by_one_by_kind_or_all_of_a_session(store, rows):
    manager, worker, target = rows
    for session in (manager, worker):
        store.record_owned_process(session.id, target.id, HEADLESS)
        store.record_owned_process(session.id, target.id, PANE)
    assert store.forget_owned_process(worker.id, HEADLESS.pgid) is True
    assert store.forget_owned_process(worker.id, HEADLESS.pgid) is False
    assert store.forget_owned_processes(manager.id, kind="headless") == 1
    assert {(p.session_id, p.identity.kind) for p in store.list_owned_processes()} == {
        (manager.id, "tmux"),
        (worker.id, "tmux"),
    }
    assert store.forget_owned_processes(manager.id) == 1
    assert store.forget_owned_processes(manager.id) == 0
    assert [p.session_id for p in store.list_owned_processes()] == [worker.id]


def test_a_record_needs_a_real_session_a_real_target_and_a_known_kind(store, rows):
    _, worker, target = rows
    with pytest.raises(NotFoundError):
        store.record_owned_process("ses_nope", target.id, HEADLESS)
    with pytest.raises(NotFoundError):
        store.record_owned_process(worker.id, "target_nope", HEADLESS)
    with pytest.raises(InvalidInputError, match="one of"):
        store.record_owned_process(worker.id, target.id, ProcessIdentity(pgid=1, start_time=1, kind="daemon"))
    with pytest.raises(InvalidInputError):
        store.record_owned_process(worker.id, target.id, ProcessIdentity(pgid=0, start_time=1, boot_id=BOOT))
    assert store.list_owned_processes() == []


def test_an_ended_sessions_processes_are_forgotten_as_it_is_read(store, rows):
    manager, worker, target = rows
    store.record_owned_process(worker.id, target.id, HEADLESS)
    store.record_owned_process(manager.id, target.id, PANE)
    assert store.forget_owned_processes_if_ended(worker.id).status is SessionStatus.QUEUED  # live: kept
    assert len(store.list_owned_processes()) == 2
    store.update_session_status(worker.id, SessionStatus.CANCELED)
    ended = store.forget_owned_processes_if_ended(worker.id)
    assert ended.status is SessionStatus.CANCELED
    assert [p.session_id for p in store.list_owned_processes()] == [manager.id]
    with pytest.raises(NotFoundError):
        store.forget_owned_processes_if_ended("ses_missing")
