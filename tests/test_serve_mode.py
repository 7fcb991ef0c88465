"""The pure decision of whether `orcha serve` may run a database in the mode asked for."""

from __future__ import annotations

import pytest

from orcha.model import Session, SessionRole, SessionStatus
from orcha.serve_mode import mode_conflict


def _session(n: int, status: SessionStatus = SessionStatus.RUNNING, **fields) -> Session:
    return Session(id=f"ses_{n:012d}", objective_id="obj_000000000001", role=SessionRole.WORKER, agent="claude",
                   prompt="p", status=status, created_at=1.0, updated_at=1.0, **fields)  # fmt: skip


PANE = {"provider_session_id": "orcha-ses_1", "attach_command": "tmux attach -t orcha-ses_1", "pane_offset": 10}
HEADLESS = {"provider_session_id": "fake-1", "started_at": 2.0}


def test_sessions_of_the_mode_asked_for_or_never_started_or_ended_are_no_conflict():
    queued = _session(1, SessionStatus.QUEUED)
    ended = [_session(2, SessionStatus.COMPLETED, **PANE), _session(3, SessionStatus.CANCELED, **HEADLESS)]
    assert mode_conflict([queued, *ended, _session(4, **PANE)], tmux=True) is None
    assert mode_conflict([queued, *ended, _session(5, **HEADLESS)], tmux=False) is None
    assert mode_conflict([], tmux=True) is None


@pytest.mark.parametrize("status", [SessionStatus.RUNNING, SessionStatus.WAITING_INPUT, SessionStatus.PAUSED])
def test_live_tmux_sessions_refuse_a_headless_start_and_name_the_flag(status):
    message = mode_conflict([_session(1, status, **PANE), _session(2, SessionStatus.QUEUED)], tmux=False)
    expected = "1 live session of this database runs in tmux panes; start with --tmux, or cancel them there first"
    assert message == expected


def test_live_headless_sessions_refuse_a_tmux_start_and_count_them():
    sessions = [_session(1, **HEADLESS), _session(2, SessionStatus.WAITING_INPUT, **HEADLESS), _session(3, **PANE)]
    message = mode_conflict(sessions, tmux=True)
    assert message is not None and message.startswith("2 live sessions of this database run headless")
    assert "start without --tmux" in message
    assert mode_conflict([_session(4, pane_offset=0)], tmux=False) is not None  # a pane read from its start
