"""Loop guards: pure decisions that pause a session instead of letting it burn quota.

Three guards, each configurable per session: the same error N times in a row; no progress for a time or for
a number of turns; a cap on model calls. :class:`GuardState` is a value; every ``on_*`` function returns the
next state and, when a guard trips, a :class:`Trip` saying which one and why, in a compact reason.
"""

from __future__ import annotations

import enum

import attrs


class GuardKind(enum.StrEnum):
    SAME_ERROR = "same_error"
    NO_PROGRESS_TIME = "no_progress_time"
    NO_PROGRESS_TURNS = "no_progress_turns"
    MODEL_CALLS = "model_calls"


@attrs.frozen(kw_only=True)
class GuardConfig:
    """Limits; ``None`` turns a guard off."""

    same_error_limit: int | None = 3
    no_progress_seconds: float | None = 900.0
    no_progress_turns: int | None = 5
    max_model_calls: int | None = 500


@attrs.frozen(kw_only=True)
class Trip:
    kind: GuardKind
    reason: str


@attrs.frozen(kw_only=True)
class GuardState:
    last_error: str | None = None
    same_error_count: int = 0
    last_progress_at: float = 0.0
    turns_without_progress: int = 0
    progressed_this_turn: bool = False
    model_calls: int = 0


def _normalize(message: str) -> str:
    return " ".join(message.split())[:300]


def fresh(now: float, *, model_calls: int = 0) -> GuardState:
    """The state of a session that starts (or resumes after a trip) at ``now``."""
    return GuardState(last_progress_at=now, model_calls=model_calls)


def on_error(config: GuardConfig, state: GuardState, message: str) -> tuple[GuardState, Trip | None]:
    normalized = _normalize(message)
    count = state.same_error_count + 1 if normalized == state.last_error else 1
    state = attrs.evolve(state, last_error=normalized, same_error_count=count)
    limit = config.same_error_limit
    if limit is not None and count >= limit:
        return state, Trip(kind=GuardKind.SAME_ERROR, reason=f"the same error {count} times in a row: {normalized}")
    return state, None


def on_progress(state: GuardState, now: float) -> GuardState:
    """Something useful happened (output, a successful tool result): errors and idleness start over."""
    return attrs.evolve(
        state,
        last_error=None,
        same_error_count=0,
        last_progress_at=now,
        turns_without_progress=0,
        progressed_this_turn=True,
    )


def on_turn_start(state: GuardState, now: float) -> GuardState:
    """A turn starts: the no-progress clock counts time in turns only (not a pause, a park or a wait)."""
    return attrs.evolve(state, last_progress_at=now)


def on_model_calls(config: GuardConfig, state: GuardState, calls: int) -> tuple[GuardState, Trip | None]:
    state = attrs.evolve(state, model_calls=state.model_calls + calls)
    cap = config.max_model_calls
    if cap is not None and state.model_calls >= cap and calls > 0:
        return state, Trip(kind=GuardKind.MODEL_CALLS, reason=f"reached the cap of {cap} model calls")
    return state, None


def on_turn_end(config: GuardConfig, state: GuardState) -> tuple[GuardState, Trip | None]:
    turns = 0 if state.progressed_this_turn else state.turns_without_progress + 1
    state = attrs.evolve(state, turns_without_progress=turns, progressed_this_turn=False)
    limit = config.no_progress_turns
    if limit is not None and turns >= limit:
        return state, Trip(kind=GuardKind.NO_PROGRESS_TURNS, reason=f"no progress in {turns} turns")
    return state, None


def progress_deadline(config: GuardConfig, state: GuardState) -> float | None:
    """When the no-progress-time guard trips if nothing happens before (``None``: never)."""
    if config.no_progress_seconds is None:
        return None
    return state.last_progress_at + config.no_progress_seconds


def idle_trip(config: GuardConfig) -> Trip:
    return Trip(kind=GuardKind.NO_PROGRESS_TIME, reason=f"no progress for {config.no_progress_seconds:g} seconds")
