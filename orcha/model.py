"""The domain model: what orcha knows about, as frozen attrs values.

Rows read from the store come back as these classes; changing one means asking the store (or, from issue 3
on, the owning actor) for a new one. Times are Unix seconds (``float``).
"""

from __future__ import annotations

import enum
from typing import Any

import attrs

# --- statuses and kinds -------------------------------------------------------------------------------


class SessionRole(enum.StrEnum):
    MANAGER = "manager"
    WORKER = "worker"


class SessionStatus(enum.StrEnum):
    QUEUED = "queued"
    WAITING_CAPACITY = "waiting_capacity"
    STARTING = "starting"
    RUNNING = "running"
    WAITING_INPUT = "waiting_input"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_SESSION_STATUSES

    @property
    def is_live(self) -> bool:
        return not self.is_terminal


TERMINAL_SESSION_STATUSES = frozenset({SessionStatus.COMPLETED, SessionStatus.FAILED, SessionStatus.CANCELED})


class SessionMode(enum.StrEnum):
    """How a session is steered: a new turn in the live process, or cancel + resume."""

    INTERACTIVE = "interactive"
    NONINTERACTIVE = "noninteractive"


class ObjectiveStatus(enum.StrEnum):
    ACTIVE = "active"
    DONE = "done"
    CANCELED = "canceled"
    FAILED = "failed"

    @property
    def is_terminal(self) -> bool:
        return self is not ObjectiveStatus.ACTIVE


class TargetKind(enum.StrEnum):
    LOCAL = "local"
    SSH = "ssh"


class TargetStatus(enum.StrEnum):
    ONLINE = "online"
    DRAINING = "draining"
    DISABLED = "disabled"
    OFFLINE = "offline"

    @property
    def accepts_sessions(self) -> bool:
        return self is TargetStatus.ONLINE


class WorkspaceKind(enum.StrEnum):
    ISOLATED = "isolated"
    SHARED_SCRATCH = "shared_scratch"
    PR_BRANCH = "pr_branch"


class PRState(enum.StrEnum):
    OPEN = "open"
    CLOSED = "closed"
    MERGED = "merged"


class QuestionStatus(enum.StrEnum):
    OPEN = "open"
    ANSWERED = "answered"
    DISMISSED = "dismissed"


class Audience(enum.StrEnum):
    """Who a question is for: the human user, or the objective's manager session."""

    USER = "user"
    MANAGER = "manager"


class LockKind(enum.StrEnum):
    """Row-unique locks: one writer per workspace, one updater per PR branch."""

    WORKSPACE = "workspace"
    PR_BRANCH = "pr_branch"


class SlotClaim(enum.StrEnum):
    """The outcome of claiming one of a target's session slots (``Store.claim_target_slot``)."""

    CLAIMED = "claimed"
    ALREADY_HELD = "already_held"
    FULL = "full"
    TARGET_UNAVAILABLE = "target_unavailable"
    SESSION_ENDED = "session_ended"

    @property
    def granted(self) -> bool:
        return self in (SlotClaim.CLAIMED, SlotClaim.ALREADY_HELD)


class TranscriptKind(enum.StrEnum):
    """Kinds of transcript lines; the normalized event stream of every provider maps onto these."""

    USER = "user"
    TEXT = "text"
    TOOL_CALL = "tool_call"
    TOOL_RESULT = "tool_result"
    ERROR = "error"
    USAGE = "usage"
    QUESTION = "question"
    SYSTEM = "system"
    SCREEN = "screen"


# --- entities -------------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Objective:
    id: str
    title: str
    prompt: str
    agent: str
    status: ObjectiveStatus = ObjectiveStatus.ACTIVE
    repo: str | None = None
    base_branch: str | None = None
    summary: str | None = None
    created_at: float
    updated_at: float


@attrs.frozen(kw_only=True)
class Usage:
    """What a session has consumed so far."""

    model_calls: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0

    def plus(self, delta: Usage, *, cost_total_usd: float | None = None) -> Usage:
        """These counters with ``delta`` added; ``cost_total_usd`` replaces the cost (providers report totals)."""
        return Usage(
            model_calls=self.model_calls + delta.model_calls,
            errors=self.errors + delta.errors,
            input_tokens=self.input_tokens + delta.input_tokens,
            output_tokens=self.output_tokens + delta.output_tokens,
            cost_usd=cost_total_usd if cost_total_usd is not None else self.cost_usd + delta.cost_usd,
        )


@attrs.frozen(kw_only=True)
class Session:
    id: str
    objective_id: str
    role: SessionRole
    agent: str
    prompt: str
    status: SessionStatus = SessionStatus.QUEUED
    mode: SessionMode = SessionMode.INTERACTIVE
    target_id: str | None = None
    workspace_id: str | None = None
    parent_session_id: str | None = None
    depends_on: tuple[str, ...] = ()
    provider_session_id: str | None = None
    attach_command: str | None = None
    pause_reason: str | None = None
    status_reason: str | None = None
    usage: Usage = Usage()
    transcript_seq: int = 0
    pane_offset: int | None = None
    """For a tmux session: the byte offset of its pane log that the transcript holds up to."""
    waiting_question: str | None = None
    """The question a waiting or paused session waits on (so a restart waits on it too)."""
    labels: tuple[str, ...] = ()
    """The labels its target must have (a kind of machine: ``gpu``); none: any target."""
    created_at: float
    updated_at: float
    task: str = ""
    """What it was asked to do: its prompt's first non-blank line, cut to 160 characters."""
    now: str | None = None
    """What it is doing now: the one-line summary of its latest meaningful transcript line."""
    last_output_at: float | None = None
    """When its latest transcript line was written."""
    started_at: float | None = None
    """When it first went ``running``."""
    ended_at: float | None = None
    """When it reached a terminal status."""
    branch: str | None = None
    """Its workspace's branch."""


@attrs.frozen(kw_only=True)
class TeamMember:
    """A session as its team sees it (a manager's ``list_sessions``, polled often): what it is and where it
    stands, without its counters, transcript position or summary."""

    id: str
    role: SessionRole
    agent: str
    status: SessionStatus
    mode: SessionMode
    target_id: str | None = None
    depends_on: tuple[str, ...] = ()
    status_reason: str | None = None
    pause_reason: str | None = None


@attrs.frozen(kw_only=True)
class SessionEnd:
    """A session's end as written (:meth:`orcha.store_port.StorePort.end_session`): the session, and for a
    worker what its manager was told in the same transaction."""

    session: Session
    notice_id: int | None = None
    """The notice that tells the manager (``None``: not a worker, or its objective is no longer active)."""
    live_workers: int | None = None
    """How many of the objective's workers are still live after it (``None`` for a manager)."""


@attrs.frozen(kw_only=True)
class Target:
    id: str
    name: str
    kind: TargetKind
    host: str | None = None
    user: str | None = None
    port: int | None = None
    work_root: str
    capacity_sessions: int
    status: TargetStatus = TargetStatus.ONLINE
    metadata: dict[str, Any] = attrs.field(factory=dict)
    status_reason: str | None = None
    """Why the target is in its status (the doctor's findings when offline, "drained by the user", …)."""
    host_key: str | None = None
    """For an SSH target: the SHA256 fingerprint of its host key, as verified (or recorded on first use)."""
    created_at: float
    updated_at: float

    @property
    def identity_file(self) -> str | None:
        value = self.metadata.get("identity_file")
        return str(value) if value is not None else None

    @property
    def bootstrap(self) -> str | None:
        value = self.metadata.get("bootstrap")
        return str(value) if value is not None else None

    @property
    def labels(self) -> tuple[str, ...]:
        """Kinds of machine this is (``gpu``, ``big``): a session may ask for targets with some labels."""
        value = self.metadata.get("labels") or ()
        return tuple(str(v) for v in value) if isinstance(value, list | tuple) else ()

    @property
    def trust_on_first_use(self) -> bool:
        return self.metadata.get("trust_on_first_use") is True


@attrs.frozen(kw_only=True)
class Workspace:
    id: str
    objective_id: str
    kind: WorkspaceKind
    target_id: str | None = None
    path: str | None = None
    repo: str | None = None
    base_branch: str | None = None
    branch: str | None = None
    created_at: float


@attrs.frozen(kw_only=True)
class PullRequest:
    id: str
    objective_id: str
    session_id: str | None = None
    url: str
    number: int
    branch: str
    base: str
    title: str = ""
    state: PRState = PRState.OPEN
    head_sha: str | None = None
    created_at: float
    updated_at: float


@attrs.frozen(kw_only=True)
class PRFeedback:
    """One piece of review feedback; ``external_id`` dedupes it across polls and restarts."""

    id: str
    pr_id: str
    external_id: str
    kind: str
    author: str
    body: str
    created_at: float
    follow_up_session_id: str | None = None


@attrs.frozen(kw_only=True)
class Question:
    id: str
    objective_id: str
    asked_by: str | None
    audience: Audience
    text: str
    status: QuestionStatus = QuestionStatus.OPEN
    answer: str | None = None
    created_at: float
    answered_at: float | None = None


@attrs.frozen(kw_only=True)
class Artifact:
    id: str
    objective_id: str
    session_id: str | None
    name: str
    uri: str
    kind: str = "file"
    created_at: float


@attrs.frozen(kw_only=True)
class Note:
    id: str
    objective_id: str
    session_id: str | None
    text: str
    created_at: float


@attrs.frozen(kw_only=True)
class Event:
    """One row of the append-only audit log; ``id`` increases and doubles as a stream cursor."""

    id: int
    ts: float
    kind: str
    objective_id: str | None = None
    session_id: str | None = None
    target_id: str | None = None
    data: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class TranscriptLine:
    """A line to append; the store assigns its ``seq``."""

    session_id: str
    kind: TranscriptKind
    body: str
    ts: float | None = None
    pane_offset: int | None = None
    """For a line read from a tmux pane's log: the byte offset just past it (stored with the line)."""
    failed: bool = False
    """For a tool result: the tool failed (stored with the line)."""
    tool: str | None = None
    """For a tool result: its call's tool, when the emitter knows it (for the line's summary; not stored)."""


@attrs.frozen(kw_only=True)
class UsageUpdate:
    """Usage to add to a session's counters, committed with the transcript lines queued around it."""

    session_id: str
    delta: Usage
    cost_total_usd: float | None = None
    """The provider's running total for the session, which replaces its cost."""


@attrs.frozen(kw_only=True)
class TranscriptEntry:
    session_id: str
    seq: int
    kind: TranscriptKind
    body: str
    ts: float
    failed: bool = False
    """For a tool result: the tool failed."""
    tool: str | None = None
    """For a tool result just appended: its call's tool, when known (a page read from the store has none)."""


@attrs.frozen(kw_only=True)
class TranscriptPage:
    """One page of a transcript; pass ``next_after`` as ``after`` to read on (it is ``after`` at the end)."""

    items: tuple[TranscriptEntry, ...]
    next_after: int


@attrs.frozen(kw_only=True)
class Notice:
    """Something the objective's manager must hear about: stored first, delivered once, in order."""

    id: int
    objective_id: str
    kind: str
    text: str
    created_at: float


@attrs.frozen(kw_only=True)
class ManagerWake:
    """What a waiting manager reads when it wakes, in one read: its undelivered notices and what it waits on."""

    notices: list[Notice]
    live_workers: list[str]
    """The ids of the objective's workers that have not ended, oldest first."""
    open_questions: list[str]
    """The ids of the objective's open questions, oldest first."""
