"""Loop guards as pure functions."""

from __future__ import annotations

from orcha import guards
from orcha.guards import GuardConfig, GuardKind


def test_the_same_error_trips_only_when_repeated_in_a_row():
    config = GuardConfig(same_error_limit=3)
    state = guards.fresh(0)
    state, trip = guards.on_error(config, state, "E: boom")
    state, trip = guards.on_error(config, state, "E:  boom")  # whitespace does not make it new
    assert trip is None
    state = guards.on_progress(state, 5)
    state, trip = guards.on_error(config, state, "E: boom")
    state, trip = guards.on_error(config, state, "E: other")
    state, trip = guards.on_error(config, state, "E: other")
    assert trip is None
    state, trip = guards.on_error(config, state, "E: other")
    assert trip.kind is GuardKind.SAME_ERROR and "3 times" in trip.reason


def test_turns_without_progress_trip_and_progress_resets_them():
    config = GuardConfig(no_progress_turns=2)
    state = guards.fresh(0)
    state, trip = guards.on_turn_end(config, state)
    assert trip is None
    state = guards.on_progress(state, 1)
    state, trip = guards.on_turn_end(config, state)
    assert trip is None and state.turns_without_progress == 0
    state, trip = guards.on_turn_end(config, state)
    state, trip = guards.on_turn_end(config, state)
    assert trip.kind is GuardKind.NO_PROGRESS_TURNS


def test_model_call_cap_and_progress_deadline():
    config = GuardConfig(max_model_calls=3, no_progress_seconds=60)
    state = guards.fresh(100, model_calls=1)
    state, trip = guards.on_model_calls(config, state, 1)
    assert trip is None
    state, trip = guards.on_model_calls(config, state, 1)
    assert trip.kind is GuardKind.MODEL_CALLS
    assert guards.progress_deadline(config, guards.on_progress(state, 130)) == 190
    assert guards.progress_deadline(GuardConfig(no_progress_seconds=None), state) is None


def test_a_guard_set_to_none_never_trips():
    config = GuardConfig(same_error_limit=None, no_progress_turns=None, max_model_calls=None)
    state = guards.fresh(0)
    for _ in range(100):
        state, trip = guards.on_error(config, state, "same")
        assert trip is None
        state, trip = guards.on_turn_end(config, state)
        assert trip is None
        state, trip = guards.on_model_calls(config, state, 10)
        assert trip is None


def test_the_no_progress_clock_counts_time_in_turns_only():
    config = GuardConfig(no_progress_seconds=60)
    state = guards.fresh(0.0)
    assert guards.progress_deadline(config, state) == 60.0
    resumed = guards.on_turn_start(state, 3600.0)  # parked for an hour, then a new turn
    assert guards.progress_deadline(config, resumed) == 3660.0
    assert resumed.turns_without_progress == state.turns_without_progress
