"""What a dashboard socket told of a session's ``now`` stands on the rows it sends until the store caught up."""

from __future__ import annotations

from orcha.model import SessionMode, SessionRole, SessionStatus, Usage
from orcha.oneline import Now
from orcha.views import SessionRow
from orcha.web.told import ToldNows


def _row(now: str | None, last_output_at: float | None, ident: str = "ses_a") -> SessionRow:
    return SessionRow(
        id=ident,
        objective_id="obj_a",
        role=SessionRole.WORKER,
        agent="claude",
        status=SessionStatus.RUNNING,
        mode=SessionMode.NONINTERACTIVE,
        target_id="local",
        workspace_id=None,
        pr_url=None,
        attach_command=None,
        pause_reason=None,
        usage=Usage(),
        transcript_lines=3,
        updated_at=10.0,
        now=now,
        last_output_at=last_output_at,
    )


def test_a_row_older_than_what_was_told_carries_what_was_told():
    told = ToldNows()
    told.told({"ses_a": Now(now="second", last_output_at=12.0)}, at=100.0)
    assert told.overlay(_row("first", 11.0), at=100.5) == _row("second", 12.0)
    assert told.overlay(_row("first", 11.0, ident="ses_b"), at=100.5) == _row("first", 11.0, ident="ses_b")


def test_once_the_store_caught_up_the_row_stands_and_nothing_is_held():
    told = ToldNows()
    told.told({"ses_a": Now(now="second", last_output_at=12.0)}, at=100.0)
    assert told.overlay(_row("second", 12.0), at=101.0) == _row("second", 12.0)
    assert len(told) == 0
    assert told.overlay(_row("first", 11.0), at=101.0) == _row("first", 11.0)


def test_a_line_that_said_nothing_new_keeps_the_told_now_and_moves_the_time():
    told = ToldNows()
    told.told({"ses_a": Now(now="Edit src/a.py", last_output_at=12.0)}, at=100.0)
    told.told({"ses_a": Now(now=None, last_output_at=13.0)}, at=100.2)
    assert told.overlay(_row("first", 11.0), at=100.5) == _row("Edit src/a.py", 13.0)


def test_nothing_said_of_a_session_before_keeps_the_rows_now_with_the_told_time():
    told = ToldNows()
    told.told({"ses_a": Now(now=None, last_output_at=13.0), "ses_b": None}, at=100.0)
    assert told.overlay(_row("first", 11.0), at=100.5) == _row("first", 13.0)
    assert len(told) == 1  # (a session with no Now was told nothing)


def test_what_was_told_is_held_for_a_while_only():
    told = ToldNows(hold=10.0)
    told.told({"ses_a": Now(now="a", last_output_at=1.0)}, at=100.0)
    told.told({"ses_b": Now(now="b", last_output_at=1.0)}, at=105.0)
    told.told({"ses_a": Now(now="a2", last_output_at=2.0)}, at=108.0)  # told again: held from then
    assert told.overlay(_row(None, None, ident="ses_b"), at=114.9).now == "b"
    assert told.overlay(_row(None, None, ident="ses_b"), at=115.0).now is None
    assert told.overlay(_row(None, None), at=117.9).now == "a2"
    told.told({}, at=118.0)
    assert len(told) == 0
