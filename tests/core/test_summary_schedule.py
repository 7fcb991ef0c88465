"""The summary schedule: at most one write an interval per session, quiet sessions caught up, costs per batch."""

from __future__ import annotations

import math

from orcha.summary_schedule import SummarySchedule


def test_a_printing_session_is_written_once_an_interval_with_its_own_lines():
    schedule = SummarySchedule(interval=1.0)
    writes = 0
    for tick in range(50):  # a batch every 0.1 s for 5 s
        now = tick / 10
        due = schedule.due(["a"], now)
        writes += due == ["a"]
        schedule.written(due, ["a"], now)
    assert writes == 5


def test_a_session_that_went_quiet_is_caught_up_within_two_intervals():
    schedule = SummarySchedule(interval=1.0)
    schedule.written(schedule.due(["a"], 0.0), ["a"], 0.0)  # written at 0
    assert schedule.deadline() == math.inf
    schedule.written(schedule.due(["a"], 0.5), ["a"], 0.5)  # not due: stale
    assert schedule.deadline() == 2.0
    assert schedule.due(["b"], 1.5) == ["b"]  # other sessions' commits do not drag it in before its deadline
    schedule.written(["b"], ["b"], 1.5)
    assert schedule.due([], 2.0) == ["a"]
    schedule.written(["a"], [], 2.0)
    assert schedule.deadline() == math.inf  # b printed nothing after its write: nothing is stale


def test_a_stale_session_written_by_its_own_lines_is_not_caught_up_again():
    schedule = SummarySchedule(interval=1.0)
    schedule.written(schedule.due(["a"], 0.0), ["a"], 0.0)
    schedule.written(schedule.due(["a"], 0.5), ["a"], 0.5)  # stale, deadline 2.0
    assert schedule.due(["a"], 1.0) == ["a"]
    schedule.written(["a"], ["a"], 1.0)
    assert schedule.deadline() == math.inf
    assert schedule.due([], 2.0) == []


def test_stopping_takes_every_stale_session_once():
    schedule = SummarySchedule(interval=1.0)
    for sid in ("a", "b"):
        schedule.written(schedule.due([sid], 0.0), [sid], 0.0)
    schedule.written(schedule.due(["a", "b"], 0.2), ["a", "b"], 0.2)
    assert sorted(schedule.take_stale()) == ["a", "b"]
    assert schedule.take_stale() == [] and schedule.deadline() == math.inf
