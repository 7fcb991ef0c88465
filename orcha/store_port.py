"""The store as the core sees it: a Protocol of every public method of ``orcha.io.store.Store``.

The actors and the web reach the store through :data:`orcha.ports.Db` (``StoreAccess[StorePort]``), so mypy
checks every ``db.run(lambda s: s.method(...))``. ``orcha.io.gateway`` proves that ``Store`` conforms, and
``tests/test_store_port.py`` that no public store method is missing here.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any, Final, Protocol

from orcha.effects import EffectKey
from orcha.model import (
    Artifact,
    Audience,
    Event,
    LockKind,
    ManagerWake,
    Note,
    Notice,
    Objective,
    ObjectiveStatus,
    PRFeedback,
    PRState,
    PullRequest,
    Question,
    QuestionStatus,
    Session,
    SessionEnd,
    SessionMode,
    SessionRole,
    SessionStatus,
    SlotClaim,
    Target,
    TargetKind,
    TargetStatus,
    TeamMember,
    TranscriptEntry,
    TranscriptLine,
    TranscriptPage,
    Usage,
    UsageUpdate,
    Workspace,
    WorkspaceKind,
)
from orcha.processes import OwnedProcess, ProcessIdentity
from orcha.scheduling import Placement, SchedulingView
from orcha.views import HISTORY_PAGE, Dashboard, DashboardRow, Timeline

UNSET: Final = object()
"""The default of an argument that, left out, keeps what is stored (``None`` would clear it)."""


class StorePort(Protocol):
    """Every public method of the store: each one short transaction; refusals raise ``OrchaError``."""

    def acquire_lock(self, kind: LockKind, key: str, owner: str) -> bool:
        """Take the ``kind`` lock on ``key`` for ``owner``; ``False`` (and no change) when another holds it."""

    def add_artifact(
        self,
        *,
        objective_id: str,
        session_id: str | None,
        name: str,
        uri: str,
        kind: str = "file",
        effect: EffectKey | None = None,
    ) -> Artifact:
        """Record an artifact (a file or link) an objective produced; a replayed ``effect`` returns the first."""

    def add_note(
        self, *, objective_id: str, session_id: str | None, text: str, effect: EffectKey | None = None
    ) -> Note:
        """Record a note on an objective; a replayed ``effect`` returns the first."""

    def add_notice(self, objective_id: str, kind: str, text: str) -> int:
        """Queue a notice for the objective's manager (durably, before anyone tries to deliver it)."""

    def add_team_notice(self, objective_id: str, kind: str, text: str) -> tuple[int | None, int]:
        """A notice for an active objective's manager (its id, or ``None``), and how many workers are live."""

    def add_pr_feedback(self, *, pr_id: str, external_id: str, kind: str, author: str, body: str) -> PRFeedback | None:
        """Store a piece of review feedback once; ``None`` when ``external_id`` was already seen for this PR."""

    def add_session_usage(self, session_id: str, delta: Usage, *, cost_total_usd: float | None = None) -> Usage:
        """Add ``delta`` to a session's counters (returned after it); ``cost_total_usd`` replaces the cost."""

    def append_transcript(
        self,
        lines: Sequence[TranscriptLine],
        *,
        summarize: Collection[str] | None = None,
        usage: Sequence[UsageUpdate] = (),
    ) -> list[TranscriptEntry]:
        """Append ``lines``, the summaries of ``summarize`` (default: the batch's sessions) and ``usage``, at once."""

    def ask_question(
        self,
        *,
        objective_id: str,
        text: str,
        asked_by: str | None = None,
        audience: Audience = Audience.USER,
        effect: EffectKey | None = None,
    ) -> Question:
        """Open a question for the user (needs-user) or the manager; a replayed ``effect`` returns the open one."""

    def claim_target_slot(self, target_id: str, session_id: str) -> SlotClaim:
        """Atomically claim one of ``target_id``'s session slots for ``session_id``."""

    def claim_placements(self, placements: Sequence[Placement]) -> list[SlotClaim]:
        """A tick's placements in one transaction, in order, each as ``claim_target_slot`` or ``place_session``."""

    def clear_provider_exhausted(self, agent: str, *, reason: str) -> bool:
        """Forget ``agent``'s exhaustion; ``False`` when none was recorded."""

    def close(self) -> None:
        """Close the store's connection."""

    def close_question(self, question_id: str, status: QuestionStatus, *, answer: str | None = None) -> Question:
        """Answer or dismiss an open question; a closed question cannot be closed again (ConflictError)."""

    def count_sessions(self, statuses: Iterable[SessionStatus], *, role: SessionRole | None = None) -> int:
        """How many sessions (of ``role``, if given) are in one of ``statuses`` (served by the status index)."""

    def create_objective(
        self,
        *,
        title: str,
        prompt: str,
        agent: str,
        repo: str | None = None,
        base_branch: str | None = None,
        manager_mode: SessionMode = SessionMode.INTERACTIVE,
    ) -> tuple[Objective, Session]:
        """Create an objective together with its manager session (queued), in one transaction."""

    def create_pull_request(
        self,
        *,
        objective_id: str,
        session_id: str | None,
        url: str,
        number: int,
        branch: str,
        base: str,
        title: str = "",
        head_sha: str | None = None,
    ) -> PullRequest:
        """Record a pull request opened for an objective."""

    def create_session(
        self,
        *,
        objective_id: str,
        agent: str,
        prompt: str,
        role: SessionRole = SessionRole.WORKER,
        mode: SessionMode = SessionMode.INTERACTIVE,
        parent_session_id: str | None = None,
        depends_on: Iterable[str] = (),
        target_id: str | None = None,
        workspace_id: str | None = None,
        effect: EffectKey | None = None,
        labels: Iterable[str] = (),
        session_id: str | None = None,
    ) -> Session:
        """Create a queued session (id ``session_id`` if given); a replayed ``effect`` returns the one it made."""

    def create_target(
        self,
        *,
        name: str,
        kind: TargetKind,
        work_root: str,
        capacity_sessions: int,
        host: str | None = None,
        user: str | None = None,
        port: int | None = None,
        metadata: Mapping[str, Any] | None = None,
        status: TargetStatus = TargetStatus.OFFLINE,
    ) -> Target:
        """Register a target. New targets start ``offline`` until a doctor passes, unless told otherwise."""

    def create_workspace(
        self,
        *,
        objective_id: str,
        kind: WorkspaceKind,
        target_id: str | None = None,
        path: str | None = None,
        repo: str | None = None,
        base_branch: str | None = None,
        branch: str | None = None,
    ) -> Workspace:
        """Create a workspace (not yet placed) for an objective."""

    def dashboard(self, *, history_limit: int = HISTORY_PAGE, history_before: str | None = None) -> Dashboard:
        """What is live, whatever the history, and one page of ended objectives (``history_before`` pages)."""

    def dashboard_row(self, kind: str, ident: str) -> DashboardRow | None:
        """The dashboard's row for one changed thing (``None`` when it is gone, e.g. an answered question)."""

    def objective_timeline(self, objective_id: str) -> Timeline:
        """An objective over time: its sessions' spans, PR and question markers, cost samples (bounded)."""

    def events_after(
        self, after: int = 0, *, limit: int = 500, objective_id: str | None = None, session_id: str | None = None
    ) -> list[Event]:
        """Audit events with ``id > after``, oldest first."""

    def fake_conversation(self, provider_session_id: str) -> dict[str, Any] | None:
        """A fake agent's conversation as it saved it, or ``None``."""

    def fake_forge_prs(self) -> list[dict[str, Any]]:
        """The fake forge's pull requests as it saved them, oldest first (its state across restarts)."""

    def find_effect(self, effect: EffectKey, tool: str) -> str | None:
        """The id of the record a replay of ``effect`` returns, or ``None`` when the request is new."""

    def find_target(self, name_or_id: str) -> Target:
        """The target with this id or, failing that, this name."""

    def backup(self, path: str) -> None:
        """Copy the live database, consistently, to a new private file at ``path``."""

    def finish_objective(self, objective_id: str, status: ObjectiveStatus, *, summary: str | None = None) -> Objective:
        """End an objective (validated). Its live sessions are ended by their own actors, which it tells."""

    def forget_owned_process(self, session_id: str, pgid: int) -> bool:
        """Forget one recorded process of ``session_id``; ``False`` when there was none."""

    def forget_owned_processes(self, session_id: str, *, kind: str | None = None) -> int:
        """Forget the recorded processes of ``session_id`` (only those of ``kind``, if given); how many."""

    def forget_owned_processes_if_ended(self, session_id: str) -> Session:
        """The session now; when it has ended, its recorded processes are forgotten in the same transaction."""

    def forget_workspace_path(self, workspace_id: str, *, reason: str) -> None:
        """The checkout is gone (pruned): keep the row, drop its path."""

    def get_objective(self, objective_id: str) -> Objective:
        """The objective with this id (NotFoundError otherwise)."""

    def get_pull_request(self, pr_id: str) -> PullRequest:
        """The pull request with this id (NotFoundError otherwise)."""

    def get_question(self, question_id: str) -> Question:
        """The question with this id (NotFoundError otherwise)."""

    def get_session(self, session_id: str) -> Session:
        """The session with this id (NotFoundError otherwise)."""

    def get_target(self, target_id: str) -> Target:
        """The target with this id (NotFoundError otherwise)."""

    def get_workspace(self, workspace_id: str) -> Workspace:
        """The workspace with this id (NotFoundError otherwise)."""

    def integrity_check(self) -> str:
        """``ok``, or what SQLite's integrity check found."""

    def latest_event_id(self) -> int:
        """The id of the newest audit event (0 when there is none): where a new live subscriber starts."""

    def list_artifacts(self, objective_id: str) -> list[Artifact]:
        """An objective's artifacts, oldest first."""

    def list_locks(self) -> list[tuple[LockKind, str, str]]:
        """Every held lock as ``(kind, key, owner)``."""

    def list_notes(self, objective_id: str) -> list[Note]:
        """An objective's notes, oldest first."""

    def list_objectives(self, *, status: ObjectiveStatus | None = None, limit: int = 200) -> list[Objective]:
        """Objectives, filtered by status, at most ``limit`` of them."""

    def list_owned_processes(self) -> list[OwnedProcess]:
        """Every recorded process, oldest first."""

    def list_pr_feedback(self, pr_id: str) -> list[PRFeedback]:
        """A pull request's stored review feedback."""

    def list_pull_requests(
        self, *, objective_id: str | None = None, state: PRState | None = None, limit: int | None = None
    ) -> list[PullRequest]:
        """Pull requests, oldest first, filtered by objective and/or state; with ``limit``, the newest that many."""

    def list_questions(
        self, *, status: QuestionStatus | None = None, objective_id: str | None = None, limit: int | None = None
    ) -> list[Question]:
        """Questions, oldest first, filtered by status and/or objective; with ``limit``, the newest that many."""

    def list_sessions(
        self, *, objective_id: str | None = None, statuses: Iterable[SessionStatus] | None = None
    ) -> list[Session]:
        """Sessions, oldest first, filtered by objective and/or status."""

    def list_team(self, objective_id: str) -> list[TeamMember]:
        """An objective's sessions, oldest first, as its team sees them (no counters or summary)."""

    def list_targets(self) -> list[Target]:
        """Every registered target."""

    def list_workspaces(self, objective_id: str) -> list[Workspace]:
        """An objective's workspaces."""

    def lock_holder(self, kind: LockKind, key: str) -> str | None:
        """The owner of the ``kind`` lock on ``key``, or ``None`` when it is free."""

    def mark_notices_delivered(self, ids: Sequence[int], *, session_id: str) -> int:
        """Record that ``session_id`` received these notices; a notice is delivered once (returns how many)."""

    def pending_notices(self, objective_id: str) -> list[Notice]:
        """Undelivered notices, oldest first."""

    def manager_wake(self, objective_id: str) -> ManagerWake:
        """A waiting manager's wake in one read: its notices, its live workers' and open questions' ids."""

    def place_workspace(self, workspace_id: str, *, target_id: str, path: str, branch: str | None) -> Workspace:
        """Record where a workspace was prepared (its target, its path) and its branch."""

    def provider_limits(self) -> list[tuple[str, float | None, bool, str]]:
        """Every recorded exhaustion as ``(agent, until, billing, reason)``."""

    def prunable_workspaces(self) -> list[Workspace]:
        """Prepared workspaces no live session needs (their sessions, and a scratch's objective, ended)."""

    def read_transcript(self, session_id: str, *, after: int = 0, limit: int = 200) -> TranscriptPage:
        """Lines of ``session_id`` with ``seq > after``, in order, at most ``limit`` (1..1000) of them."""

    def record_event(
        self,
        kind: str,
        /,
        *,
        objective_id: str | None = None,
        session_id: str | None = None,
        target_id: str | None = None,
        **data: Any,
    ) -> int:
        """Append an audit event on its own (state changes record theirs in their own transaction)."""

    def record_owned_process(self, session_id: str, target_id: str, identity: ProcessIdentity) -> OwnedProcess:
        """Record that ``session_id`` runs the process ``identity`` on ``target_id`` (again: replaced)."""

    def record_target_host_key(self, target_id: str, host_key: str) -> Target:
        """Record the fingerprint of an SSH target's host key, as its doctor verified (or first trusted) it."""

    def release_lock(self, kind: LockKind, key: str, owner: str) -> None:
        """Release a lock ``owner`` holds; raises :class:`LockNotHeldError` otherwise."""

    def release_locks_of(self, owner: str, *, reason: str) -> int:
        """Recovery: release every lock ``owner`` holds (an owner known to be dead). Returns how many."""

    def place_session(self, target_id: str, session_id: str) -> SlotClaim:
        """Put a session on a target without a slot (a manager), while the target takes sessions."""

    def release_target_slot(self, session_id: str) -> bool:
        """Give back the slot ``session_id`` holds; ``False`` when it held none."""

    def save_fake_conversation(self, provider_session_id: str, data: dict[str, Any]) -> None:
        """Keep (or replace) a fake agent's place in its conversation."""

    def save_fake_forge_pr(self, url: str, data: dict[str, Any]) -> None:
        """Keep (or replace) one of the fake forge's pull requests, so a restart finds it."""

    def scheduling_view(self, *, waiting_workers: int | None = None) -> SchedulingView:
        """A scheduler tick's snapshot in one read transaction (optionally a page of the waiting workers)."""

    def session_statuses(self, session_ids: Iterable[str]) -> dict[str, SessionStatus]:
        """The status of each named session that exists."""

    def set_feedback_follow_up(self, feedback_id: str, session_id: str) -> PRFeedback:
        """Record the session that follows up a piece of feedback."""

    def set_provider_exhausted(self, agent: str, *, until: float | None, billing: bool, reason: str) -> None:
        """Record that ``agent`` refuses work until ``until`` (``None``: until the user answers)."""

    def set_session_fields(
        self,
        session_id: str,
        *,
        mode: SessionMode | None = None,
        target_id: str | None = None,
        workspace_id: str | None = None,
        provider_session_id: str | None = None,
        attach_command: str | None = None,
        agent: str | None = None,
        waiting_question: str | object | None = UNSET,
    ) -> Session:
        """Record runtime facts of a session (where it runs, its provider id, how to attach). ``None`` keeps."""

    def set_status_reason(self, session_id: str, reason: str | None) -> Session:
        """Say why a session is in its status (e.g. what a waiting manager waits for), without moving it."""

    def set_target_capacity(self, target_id: str, capacity_sessions: int) -> Target:
        """Change a target's capacity. Lowering it below the load takes no slot away; it only stops claims."""

    def set_target_status(self, target_id: str, status: TargetStatus, *, reason: str | None = None) -> Target:
        """Move a target to ``status``, validated by the target state machine in the same transaction."""

    def slot_holders(self) -> dict[str, str]:
        """Every claimed slot, as session id → target id."""

    def target_loads(self) -> dict[str, int]:
        """Claimed slots per target id (targets with none are absent)."""

    def update_pull_request(
        self, pr_id: str, *, state: PRState | None = None, head_sha: str | None = None
    ) -> PullRequest:
        """Record what the forge says of a PR now (state, head); an unchanged PR writes no event."""

    def end_session(
        self,
        session_id: str,
        status: SessionStatus,
        *,
        reason: str | None = None,
        only_if_objective_active: bool = False,
        forget_processes: bool = False,
    ) -> SessionEnd:
        """Move a session to a terminal status; a worker's manager is told in the same transaction."""

    def start_running(self, session_id: str, *, reason: str | None, mode: SessionMode, agent: str) -> Session:
        """``starting`` then ``running`` (with ``mode`` and ``agent``) in one write, while its objective is active."""

    def update_session_status(
        self,
        session_id: str,
        status: SessionStatus,
        *,
        reason: str | None = None,
        pause_reason: str | object | None = UNSET,
        mode: SessionMode | None = None,
        agent: str | None = None,
        only_if_objective_active: bool = False,
    ) -> Session:
        """Move a session to ``status``, validated inside the ``BEGIN IMMEDIATE`` transaction that writes it."""
