"""The state machines of sessions, objectives and targets, as tables and pure functions.

Each machine is a mapping from a status to the statuses it may move to. One function per machine validates
a move; the store calls it inside the transaction that writes the change, so no path can skip it. Terminal
statuses map to the empty set: nothing, not even a late completion, moves a finished session again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TypeVar

import attrs

from orcha.errors import InvalidTransitionError
from orcha.model import ObjectiveStatus, Session, SessionStatus, TargetStatus

_S = SessionStatus
_Status = TypeVar("_Status", bound=str)

SESSION_TRANSITIONS: Mapping[SessionStatus, frozenset[SessionStatus]] = {
    _S.QUEUED: frozenset({_S.WAITING_CAPACITY, _S.STARTING, _S.CANCELED, _S.FAILED}),
    _S.WAITING_CAPACITY: frozenset({_S.QUEUED, _S.STARTING, _S.CANCELED, _S.FAILED}),
    _S.STARTING: frozenset({_S.RUNNING, _S.QUEUED, _S.FAILED, _S.CANCELED}),
    _S.RUNNING: frozenset({_S.WAITING_INPUT, _S.PAUSED, _S.COMPLETED, _S.FAILED, _S.CANCELED}),
    _S.WAITING_INPUT: frozenset({_S.RUNNING, _S.PAUSED, _S.COMPLETED, _S.FAILED, _S.CANCELED}),
    _S.PAUSED: frozenset({_S.RUNNING, _S.QUEUED, _S.FAILED, _S.CANCELED}),
    _S.COMPLETED: frozenset(),
    _S.FAILED: frozenset(),
    _S.CANCELED: frozenset(),
}
"""Session moves. ``starting → queued`` hands a slot back when a start cannot proceed (e.g. a lock is
held); ``paused → queued`` re-enters scheduling when a paused session resumes without a live process."""

OBJECTIVE_TRANSITIONS: Mapping[ObjectiveStatus, frozenset[ObjectiveStatus]] = {
    ObjectiveStatus.ACTIVE: frozenset({ObjectiveStatus.DONE, ObjectiveStatus.CANCELED, ObjectiveStatus.FAILED}),
    ObjectiveStatus.DONE: frozenset(),
    ObjectiveStatus.CANCELED: frozenset(),
    ObjectiveStatus.FAILED: frozenset(),
}

_T = TargetStatus

TARGET_TRANSITIONS: Mapping[TargetStatus, frozenset[TargetStatus]] = {
    _T.ONLINE: frozenset({_T.DRAINING, _T.DISABLED, _T.OFFLINE}),
    _T.DRAINING: frozenset({_T.ONLINE, _T.DISABLED, _T.OFFLINE}),
    _T.DISABLED: frozenset({_T.ONLINE, _T.OFFLINE}),
    _T.OFFLINE: frozenset({_T.ONLINE, _T.DISABLED}),
}
"""Target moves: ``online ↔ draining``; both may be disabled; a failed doctor takes a target offline and
only a passing doctor (``offline → online``) brings it back. Enabling a disabled target goes to ``online``
when its doctor passes and to ``offline`` when it does not."""


def _check(machine: str, table: Mapping[_Status, frozenset[_Status]], current: _Status, requested: _Status) -> None:
    allowed = table[current]
    if requested not in allowed:
        raise InvalidTransitionError(machine, str(current), str(requested), allowed=frozenset(map(str, allowed)))


def validate_session_transition(current: SessionStatus, requested: SessionStatus) -> None:
    """Raise :class:`InvalidTransitionError` unless a session may move from ``current`` to ``requested``."""
    _check("session", SESSION_TRANSITIONS, current, requested)


def validate_objective_transition(current: ObjectiveStatus, requested: ObjectiveStatus) -> None:
    """Raise :class:`InvalidTransitionError` unless an objective may move from ``current`` to ``requested``."""
    _check("objective", OBJECTIVE_TRANSITIONS, current, requested)


def validate_target_transition(current: TargetStatus, requested: TargetStatus) -> None:
    """Raise :class:`InvalidTransitionError` unless a target may move from ``current`` to ``requested``."""
    _check("target", TARGET_TRANSITIONS, current, requested)


@attrs.frozen(kw_only=True)
class SessionEnding:
    """A live session that must end because its objective ended."""

    session_id: str
    status: SessionStatus
    reason: str


def sessions_ending_with_objective(
    objective_status: ObjectiveStatus, sessions: Iterable[Session], *, completed_by: str | None = None
) -> list[SessionEnding]:
    """What happens to an objective's live sessions when it reaches a terminal ``objective_status``.

    An objective that ends (done, canceled or failed) leaves no session running: every live session is
    canceled, with a reason naming the objective's end. The session that declared the objective done
    (``completed_by``, its manager) completes instead, when it may. Finished sessions are left as they are.
    """
    if not objective_status.is_terminal:
        return []
    reason = f"objective {objective_status}"
    endings = []
    for s in sessions:
        if not s.status.is_live:
            continue
        completes = (
            objective_status is ObjectiveStatus.DONE
            and s.id == completed_by
            and SessionStatus.COMPLETED in SESSION_TRANSITIONS[s.status]
        )
        status = SessionStatus.COMPLETED if completes else SessionStatus.CANCELED
        endings.append(SessionEnding(session_id=s.id, status=status, reason=reason))
    return endings


def dependents_to_cancel(failed_or_canceled: str, sessions: Iterable[Session]) -> list[SessionEnding]:
    """Live sessions that depend on ``failed_or_canceled`` and must therefore be canceled."""
    reason = f"dependency {failed_or_canceled} did not complete"
    return [
        SessionEnding(session_id=s.id, status=SessionStatus.CANCELED, reason=reason)
        for s in sessions
        if s.status.is_live and failed_or_canceled in s.depends_on
    ]
