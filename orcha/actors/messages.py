"""The closed message vocabulary of each actor: frozen attrs values, serializable with cattrs."""

from __future__ import annotations

import attrs

from orcha.model import ObjectiveStatus, SessionRole, SessionStatus, WorkspaceKind

# --- session actor --------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Steer:
    """A message from the user (or the manager) for the session's agent."""

    text: str


@attrs.frozen(kw_only=True)
class Answer:
    """The answer to a question this session is waiting on (its own, a loop guard's, an exhaustion's)."""

    question_id: str
    text: str


@attrs.frozen(kw_only=True)
class CancelSession:
    reason: str


@attrs.frozen(kw_only=True)
class Stop:
    """The session was already ended in the store (its objective ended): stop without writing a status."""

    reason: str


@attrs.frozen(kw_only=True)
class Notify:
    """Notices for the manager are waiting in the store."""


SessionMessage = Steer | Answer | CancelSession | Stop | Notify

# --- objective actor ------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Spawn:
    prompt: str
    agent: str
    role: SessionRole = SessionRole.WORKER
    parent_session_id: str | None = None
    target_id: str | None = None
    depends_on: tuple[str, ...] = ()
    repo: str | None = None
    base_branch: str | None = None
    workspace_kind: WorkspaceKind | None = None
    pr_id: str | None = None


@attrs.frozen(kw_only=True)
class Finish:
    status: ObjectiveStatus
    summary: str | None = None
    completed_by: str | None = None


@attrs.frozen(kw_only=True)
class SessionEnded:
    session_id: str
    status: SessionStatus
    reason: str | None = None


ObjectiveMessage = Spawn | Finish | SessionEnded

# --- target actor ---------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Drain:
    pass


@attrs.frozen(kw_only=True)
class Disable:
    pass


@attrs.frozen(kw_only=True)
class Enable:
    pass


@attrs.frozen(kw_only=True)
class RunDoctor:
    pass


TargetMessage = Drain | Disable | Enable | RunDoctor
