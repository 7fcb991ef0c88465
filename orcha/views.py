"""Read models: the small rows the dashboard shows. They never carry transcript content."""

from __future__ import annotations

import attrs

from orcha.model import (
    Audience,
    ObjectiveStatus,
    PRState,
    SessionMode,
    SessionRole,
    SessionStatus,
    TargetKind,
    TargetStatus,
    Usage,
)

REASON_CHARS = 200
"""A row's reasons are cut to this many characters: rows stay small (the full text is on the session)."""


@attrs.frozen(kw_only=True)
class ObjectiveRow:
    id: str
    title: str
    agent: str
    status: ObjectiveStatus
    created_at: float
    updated_at: float
    cost_usd: float = 0.0
    """The sum of its sessions' costs."""
    model_calls: int = 0


@attrs.frozen(kw_only=True)
class SessionRow:
    id: str
    objective_id: str
    role: SessionRole
    agent: str
    status: SessionStatus
    mode: SessionMode
    target_id: str | None
    workspace_id: str | None
    pr_url: str | None
    attach_command: str | None
    pause_reason: str | None
    """Why it is paused (a loop guard, a usage limit); the reasons are cut to :data:`REASON_CHARS`."""
    usage: Usage
    transcript_lines: int
    updated_at: float
    live_workers: int = 0
    """For a manager: how many of its objective's workers are live."""
    waiting_for: str | None = None
    """For a session that waits or is paused: what for."""
    status_reason: str | None = None
    """Why it is in its status (the last move's reason: a failure's cause, a cancel's reason)."""
    created_at: float = 0.0
    task: str = ""
    """What it was asked to do: its prompt's first non-blank line (:func:`orcha.oneline.task_of`)."""
    now: str | None = None
    """What it is doing now: its newest meaningful transcript line in one line, stored beside the session by
    the transcript's commit (never read from the transcript)."""
    last_output_at: float | None = None
    started_at: float | None = None
    ended_at: float | None = None
    branch: str | None = None
    """Its workspace's branch."""


@attrs.frozen(kw_only=True)
class TargetRow:
    id: str
    name: str
    kind: TargetKind
    host: str | None
    status: TargetStatus
    capacity_sessions: int
    load: int
    status_reason: str | None = None
    """Why it is in its status (what its doctor found missing, that it was unreachable, …)."""
    host_key: str | None = None


@attrs.frozen(kw_only=True)
class QuestionRow:
    id: str
    objective_id: str
    asked_by: str | None
    audience: Audience
    text: str
    created_at: float
    objective_title: str = ""
    asked_by_task: str | None = None
    """The asking session's task (``None``: asked by no session, or by one without a task)."""


@attrs.frozen(kw_only=True)
class PRRow:
    id: str
    objective_id: str
    session_id: str | None
    url: str
    number: int
    branch: str
    state: PRState


@attrs.frozen(kw_only=True)
class HistoryPage:
    """Which page of ended objectives a dashboard holds: ``shown`` of them; ``next_before`` asks for the next."""

    shown: int = 0
    more: bool = False
    next_before: str | None = None


HISTORY_PAGE = 10
"""Ended objectives a dashboard shows by default (live work is always shown in full)."""
MAX_HISTORY_PAGE = 200


@attrs.frozen(kw_only=True)
class Dashboard:
    """Everything the dashboard shows at a glance, in one consistent snapshot: what is live, whatever the
    history, and one page of history."""

    objectives: tuple[ObjectiveRow, ...]
    sessions: tuple[SessionRow, ...]
    targets: tuple[TargetRow, ...]
    open_questions: tuple[QuestionRow, ...]
    pull_requests: tuple[PRRow, ...]
    history: HistoryPage = HistoryPage()


DashboardRow = ObjectiveRow | SessionRow | TargetRow | QuestionRow | PRRow
"""The dashboard's row for one changed thing."""


TIMELINE_COST_SAMPLES = 500
"""A timeline's cost curve holds at most this many samples (evenly thinned, the newest always kept)."""
TIMELINE_MARKERS = 1000
"""A timeline holds at most this many markers (the earliest)."""
TIMELINE_SESSIONS = 1000
"""A timeline holds at most this many sessions (the earliest created)."""


@attrs.frozen(kw_only=True)
class TimelineObjective:
    id: str
    title: str
    status: ObjectiveStatus
    created_at: float
    ended_at: float | None


@attrs.frozen(kw_only=True)
class TimelineSession:
    id: str
    role: SessionRole
    agent: str
    task: str
    status: SessionStatus
    started_at: float | None
    ended_at: float | None


@attrs.frozen(kw_only=True)
class TimelineMarker:
    kind: str
    """``pr`` (opened), ``question`` (asked) or ``answer`` (answered)."""
    at: float
    id: str
    label: str
    session_id: str | None


@attrs.frozen(kw_only=True)
class CostSample:
    at: float
    cost_usd: float
    """The objective's cumulative cost at ``at``."""


@attrs.frozen(kw_only=True)
class Timeline:
    """An objective over time: its sessions as spans, its PRs and questions as markers, its cost as a curve."""

    objective: TimelineObjective
    sessions: tuple[TimelineSession, ...]
    markers: tuple[TimelineMarker, ...]
    cost: tuple[CostSample, ...]
