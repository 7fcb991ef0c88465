"""Every legal and every illegal transition of the three state machines, against tables written out here."""

from __future__ import annotations

import itertools

import pytest

from orcha.errors import InvalidTransitionError
from orcha.model import ObjectiveStatus, Session, SessionRole, SessionStatus, TargetStatus
from orcha.transitions import (
    dependents_to_cancel,
    sessions_ending_with_objective,
    validate_objective_transition,
    validate_session_transition,
    validate_target_transition,
)

S = SessionStatus
LEGAL_SESSION = {
    (S.QUEUED, S.WAITING_CAPACITY),
    (S.QUEUED, S.STARTING),
    (S.QUEUED, S.CANCELED),
    (S.QUEUED, S.FAILED),
    (S.WAITING_CAPACITY, S.QUEUED),
    (S.WAITING_CAPACITY, S.STARTING),
    (S.WAITING_CAPACITY, S.CANCELED),
    (S.WAITING_CAPACITY, S.FAILED),
    (S.STARTING, S.RUNNING),
    (S.STARTING, S.QUEUED),
    (S.STARTING, S.FAILED),
    (S.STARTING, S.CANCELED),
    (S.RUNNING, S.WAITING_INPUT),
    (S.RUNNING, S.PAUSED),
    (S.RUNNING, S.COMPLETED),
    (S.RUNNING, S.FAILED),
    (S.RUNNING, S.CANCELED),
    (S.WAITING_INPUT, S.RUNNING),
    (S.WAITING_INPUT, S.PAUSED),
    (S.WAITING_INPUT, S.COMPLETED),
    (S.WAITING_INPUT, S.FAILED),
    (S.WAITING_INPUT, S.CANCELED),
    (S.PAUSED, S.RUNNING),
    (S.PAUSED, S.QUEUED),
    (S.PAUSED, S.FAILED),
    (S.PAUSED, S.CANCELED),
}

OS = ObjectiveStatus
LEGAL_OBJECTIVE = {(OS.ACTIVE, OS.DONE), (OS.ACTIVE, OS.CANCELED), (OS.ACTIVE, OS.FAILED)}

T = TargetStatus
LEGAL_TARGET = {
    (T.ONLINE, T.DRAINING),
    (T.DRAINING, T.ONLINE),
    (T.ONLINE, T.DISABLED),
    (T.DRAINING, T.DISABLED),
    (T.ONLINE, T.OFFLINE),
    (T.DRAINING, T.OFFLINE),
    (T.OFFLINE, T.ONLINE),
    (T.OFFLINE, T.DISABLED),
    (T.DISABLED, T.ONLINE),
    (T.DISABLED, T.OFFLINE),
}


def _cases(statuses, legal):
    return [pytest.param(a, b, (a, b) in legal, id=f"{a}->{b}") for a, b in itertools.product(statuses, repeat=2)]


@pytest.mark.parametrize(("current", "requested", "legal"), _cases(list(S), LEGAL_SESSION))
def test_session_transition(current, requested, legal):
    if legal:
        validate_session_transition(current, requested)
    else:
        with pytest.raises(InvalidTransitionError) as info:
            validate_session_transition(current, requested)
        assert info.value.current == current
        assert info.value.requested == requested
        assert f"{current!s}" in str(info.value)


@pytest.mark.parametrize(("current", "requested", "legal"), _cases(list(OS), LEGAL_OBJECTIVE))
def test_objective_transition(current, requested, legal):
    if legal:
        validate_objective_transition(current, requested)
    else:
        with pytest.raises(InvalidTransitionError):
            validate_objective_transition(current, requested)


@pytest.mark.parametrize(("current", "requested", "legal"), _cases(list(T), LEGAL_TARGET))
def test_target_transition(current, requested, legal):
    if legal:
        validate_target_transition(current, requested)
    else:
        with pytest.raises(InvalidTransitionError):
            validate_target_transition(current, requested)


@pytest.mark.parametrize("terminal", [S.COMPLETED, S.FAILED, S.CANCELED])
def test_terminal_session_statuses_have_no_way_out(terminal):
    assert terminal.is_terminal
    for requested in S:
        with pytest.raises(InvalidTransitionError, match="terminal"):
            validate_session_transition(terminal, requested)


def _session(sid: str, status: SessionStatus, depends_on: tuple[str, ...] = ()) -> Session:
    return Session(
        id=sid,
        objective_id="obj_1",
        role=SessionRole.WORKER,
        agent="fake",
        prompt="p",
        status=status,
        depends_on=depends_on,
        created_at=0.0,
        updated_at=0.0,
    )


@pytest.mark.parametrize("end", [OS.DONE, OS.CANCELED, OS.FAILED])
def test_an_ending_objective_cancels_only_its_live_sessions(end):
    sessions = [_session("a", S.RUNNING), _session("b", S.COMPLETED), _session("c", S.QUEUED), _session("d", S.FAILED)]
    endings = sessions_ending_with_objective(end, sessions)
    assert [(e.session_id, e.status) for e in endings] == [("a", S.CANCELED), ("c", S.CANCELED)]
    assert all(str(end) in e.reason for e in endings)


def test_an_active_objective_ends_no_session():
    assert sessions_ending_with_objective(OS.ACTIVE, [_session("a", S.RUNNING)]) == []


def test_dependents_of_a_failed_session_are_canceled():
    sessions = [
        _session("dep", S.FAILED),
        _session("x", S.QUEUED, ("dep",)),
        _session("y", S.WAITING_CAPACITY, ("other", "dep")),
        _session("z", S.QUEUED, ("other",)),
        _session("done", S.COMPLETED, ("dep",)),
    ]
    endings = dependents_to_cancel("dep", sessions)
    assert [e.session_id for e in endings] == ["x", "y"]
    assert all("dep" in e.reason for e in endings)
