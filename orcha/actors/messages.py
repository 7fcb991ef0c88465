"""The closed message vocabulary of each actor: frozen attrs values, serializable with cattrs."""

from __future__ import annotations

import attrs

from orcha.effects import EffectKey
from orcha.model import ObjectiveStatus, SessionRole, SessionStatus, Target, WorkspaceKind

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
class ObjectiveEnded:
    """The session's objective ended: the session ends too (the manager that declared it done completes
    once its turn is over; every other live session is canceled)."""

    status: ObjectiveStatus
    completed_by: str | None = None


@attrs.frozen(kw_only=True)
class Notify:
    """Notices for the manager are waiting in the store."""


@attrs.frozen(kw_only=True)
class Place:
    """The scheduler placed the queued session on ``target_id`` and holds a slot there for it: start.

    A call; the answer is the ``starting`` session, or a refusal when it is no longer waiting to start (the
    scheduler then hands the slot back)."""

    target_id: str
    target: Target | None = None
    """The target as the scheduler saw it (so the session finds its executor without reading it again)."""


@attrs.frozen(kw_only=True)
class AwaitCapacity:
    """The scheduler found no room for the queued session yet (a cast): it waits, saying why."""

    reason: str


SessionMessage = Steer | Answer | CancelSession | ObjectiveEnded | Notify | Place | AwaitCapacity

# --- objective actor ------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Spawn:
    prompt: str
    agent: str | None = None
    """The agent CLI; ``None``: the objective's own."""
    role: SessionRole = SessionRole.WORKER
    parent_session_id: str | None = None
    target_id: str | None = None
    labels: tuple[str, ...] = ()
    """Labels the session's target must have (checked by :func:`orcha.targets.check_label`)."""
    depends_on: tuple[str, ...] = ()
    repo: str | None = None
    base_branch: str | None = None
    workspace_kind: WorkspaceKind | None = None
    pr_id: str | None = None
    effect: EffectKey | None = None
    """The spawning request's key: a replay returns the session it made (:mod:`orcha.effects`)."""


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
    role: SessionRole = SessionRole.WORKER


@attrs.frozen(kw_only=True)
class QuestionAnswered:
    """The user answered a question the objective itself asked (e.g. why it has no manager)."""

    question_id: str
    answer: str


ObjectiveMessage = Spawn | Finish | SessionEnded | QuestionAnswered

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
    bootstrap: bool = False
    """Run the target's bootstrap command first (at registration), then the checks."""


@attrs.frozen(kw_only=True)
class Unreachable:
    """The target's connection failed after its retries (an SSH target): offline until a doctor passes."""

    reason: str


TargetMessage = Drain | Disable | Enable | RunDoctor | Unreachable
