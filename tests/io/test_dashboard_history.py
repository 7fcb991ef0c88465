"""The dashboard shows live work in full whatever the history, and the history a page at a time."""

from __future__ import annotations

import json

import attrs
import pytest

from orcha.errors import InvalidInputError
from orcha.io.store import Store
from orcha.model import ObjectiveStatus, PRState, SessionStatus
from orcha.web.json import to_data

S = SessionStatus


def _ended_objective(store: Store, n: int, *, workers: int) -> str:
    objective, manager = store.create_objective(title=f"old {n}", prompt="p", agent="fake")
    for w in range(workers):
        worker = store.create_session(objective_id=objective.id, agent="fake", prompt="w")
        store.update_session_status(worker.id, S.CANCELED, reason="done")
        store.create_pull_request(
            objective_id=objective.id,
            session_id=worker.id,
            url=f"https://forge.example/o/{n}/{w}",
            number=n * 1000 + w,
            branch=f"orcha/{worker.id}",
            base="main",
            title="t",
            head_sha="abc",
        )
    store.update_session_status(manager.id, S.CANCELED, reason="done")
    store.finish_objective(objective.id, ObjectiveStatus.CANCELED)
    return objective.id


def _live(store: Store) -> tuple[str, list[str]]:
    objective, manager = store.create_objective(title="live", prompt="p", agent="fake")
    workers = [store.create_session(objective_id=objective.id, agent="fake", prompt="w").id for _ in range(3)]
    return objective.id, [manager.id, *workers]


def _size(dashboard) -> int:
    return len(json.dumps(to_data(dashboard), default=str))


def test_live_work_is_always_shown_and_history_is_a_page(store):
    ended = [_ended_objective(store, n, workers=15) for n in range(30)]
    live_objective, live_sessions = _live(store)
    dashboard = store.dashboard()
    assert dashboard.objectives[0].id == live_objective  # live first
    assert [o.id for o in dashboard.objectives[1:]] == ended[::-1][:10]  # the newest ended, a page of them
    shown = {s.id for s in dashboard.sessions}
    assert set(live_sessions) <= shown
    for objective_id in ended[::-1][:10]:  # an ended objective shows its newest ended sessions, not all 16
        assert sum(1 for s in dashboard.sessions if s.objective_id == objective_id) == 10
    assert all(p.session_id in shown or p.state is PRState.OPEN for p in dashboard.pull_requests)
    assert dashboard.history.more and dashboard.history.next_before == ended[::-1][9]

    page = store.dashboard(history_before=dashboard.history.next_before)
    assert [o.id for o in page.objectives[1:]] == ended[::-1][10:20]
    last = store.dashboard(history_before=page.history.next_before)
    assert [o.id for o in last.objectives[1:]] == ended[::-1][20:30]
    assert not last.history.more and last.history.next_before is None
    assert store.dashboard(history_limit=0).objectives == dashboard.objectives[:1]


def test_the_dashboard_does_not_grow_with_history(store):
    _ended_objective(store, 0, workers=15)
    _live(store)
    small = _size(store.dashboard())
    for n in range(1, 60):
        _ended_objective(store, n, workers=15)
    assert _size(store.dashboard()) <= small * 11  # ten pages of history at most, whatever came before
    assert _size(store.dashboard()) <= 128 * 1024


def test_a_bad_page_cursor_is_refused(store):
    with pytest.raises(InvalidInputError):
        store.dashboard(history_before="obj_nosuchthing")
    with pytest.raises(InvalidInputError):
        store.dashboard(history_limit=10_000)


def test_the_history_field_says_where_the_page_is(store):
    _ended_objective(store, 0, workers=1)
    assert attrs.asdict(store.dashboard().history) == {"shown": 1, "more": False, "next_before": None}


def test_a_session_still_ending_after_its_objective_ended_is_shown(store):
    """The manager that declared its objective done finishes its turn after the objective is done: until it
    has, it is live work, and live work is always shown."""
    objective, manager = store.create_objective(title="t", prompt="p", agent="fake")
    worker = store.create_session(objective_id=objective.id, agent="fake", prompt="w")
    for status in (SessionStatus.STARTING, SessionStatus.RUNNING):
        store.update_session_status(manager.id, status)
    store.update_session_status(worker.id, SessionStatus.CANCELED)
    store.finish_objective(objective.id, ObjectiveStatus.DONE)
    shown = {s.id: s.status for s in store.dashboard().sessions}
    assert shown == {manager.id: SessionStatus.RUNNING, worker.id: SessionStatus.CANCELED}
    store.update_session_status(manager.id, SessionStatus.COMPLETED)
    assert {s.id for s in store.dashboard().sessions} == {manager.id, worker.id}
