"""Whether ``orcha serve`` may run a database in the mode it was asked for (``--tmux`` or headless).

A live session keeps the mode it was started in: a tmux session's agent runs on in its pane while orcha is
down, and a headless session's conversation lives in the agent CLI's own files. Resumed in the other mode, a
tmux pane would be left running unowned while a headless agent starts the work over beside it, and a headless
session would start a second agent in a new pane. So a server started in the other mode refuses to start.
"""

from __future__ import annotations

from collections.abc import Iterable

from orcha.errors import OrchaError
from orcha.model import Session


class ServeModeError(OrchaError):
    """The database has live sessions started in the other mode (``orcha serve`` exits 2 saying so)."""

    code = "serve_mode_conflict"


def ran_in_tmux(session: Session) -> bool:
    """Whether the session was started in a tmux pane (the tmux provider records its attach command)."""
    return session.attach_command is not None or session.pane_offset is not None


def is_started(session: Session) -> bool:
    """Whether an agent was started for it (a queued session that never ran can start in either mode)."""
    return session.provider_session_id is not None or session.started_at is not None or ran_in_tmux(session)


def mode_conflict(sessions: Iterable[Session], *, tmux: bool) -> str | None:
    """Why this database cannot be served with ``tmux`` as asked, or ``None`` when it can: the number of its
    live started sessions that run in the other mode, and the flag to start with instead."""
    other = [s for s in sessions if not s.status.is_terminal and is_started(s) and ran_in_tmux(s) is not tmux]
    if not other:
        return None
    count = f"{len(other)} live session{'s' if len(other) != 1 else ''} of this database"
    if tmux:
        return (
            f"{count} {'run' if len(other) != 1 else 'runs'} headless (started without --tmux); "
            "start without --tmux, or cancel them there first"
        )
    return (
        f"{count} {'run' if len(other) != 1 else 'runs'} in tmux panes; start with --tmux, or cancel them there first"
    )
