"""Every failed, canceled or paused session carries its reason in the dashboard's rows, cut short."""

from __future__ import annotations

from orcha.model import SessionStatus as S
from orcha.views import REASON_CHARS
from orcha.web.json import to_data
from tests.conftest import make_worker


def _running(store):
    """A running worker of a new objective."""
    objective, _manager = store.create_objective(title="t", prompt="p", agent="fake")
    session = make_worker(store, objective.id)
    store.update_session_status(session.id, S.STARTING, reason="placed")
    store.update_session_status(session.id, S.RUNNING, reason="started")
    return session


def _row(store, session_id):
    [row] = [s for s in store.dashboard().sessions if s.id == session_id]
    assert store.dashboard_row("session", session_id) == row  # the live delta is the snapshot's row
    return row


def test_a_failed_sessions_row_says_why(store):
    session = _running(store)
    store.update_session_status(session.id, S.FAILED, reason="claude CLI not found: 'claude' on PATH")
    row = _row(store, session.id)
    assert row.status is S.FAILED and row.status_reason == "claude CLI not found: 'claude' on PATH"
    assert row.waiting_for is None
    assert to_data(row)["status_reason"] == "claude CLI not found: 'claude' on PATH"  # what /api/dashboard sends


def test_a_paused_sessions_row_carries_its_pause_reason(store):
    session = _running(store)
    store.update_session_status(session.id, S.PAUSED, reason="codex is out of quota until 1900000000 (Unix time)")
    row = _row(store, session.id)
    assert row.pause_reason == row.status_reason == "codex is out of quota until 1900000000 (Unix time)"
    assert row.waiting_for == row.pause_reason
    data = to_data(row)
    assert data["pause_reason"] and data["status_reason"]


def test_long_reasons_are_cut_to_keep_rows_small(store):
    session = _running(store)
    long = "é" * 5000  # characters, not bytes
    store.update_session_status(session.id, S.PAUSED, reason=long)
    row = _row(store, session.id)
    assert row.pause_reason == row.status_reason == "é" * (REASON_CHARS - 1) + "…"
    assert store.get_session(session.id).pause_reason == long  # the session itself keeps the whole text
    store.update_session_status(session.id, S.RUNNING, reason="resumed")
    store.update_session_status(session.id, S.FAILED, reason="x" * REASON_CHARS)  # exactly the limit: kept whole
    row = _row(store, session.id)
    assert row.status_reason == "x" * REASON_CHARS and row.pause_reason is None
