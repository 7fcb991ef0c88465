"""The orchestrator: the actor tree, and the operations that HTTP, MCP and the fake manager all call.

:meth:`Orchestrator.run` builds the tree inside the caller's nursery::

    orchestrator
    ├── targets      Supervisor (one-for-one)  → target:<id>
    ├── objectives   Supervisor (one-for-one)  → objective:<id>
    ├── sessions     Supervisor (temporary children: a crash fails the session) → session:<id>
    └── services     Supervisor (permanent)    → scheduler, pr-monitor

Every operation writes through the store first and then tells the actors concerned.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import AsyncIterator, Callable
from typing import Any

import attrs
import trio

from orcha import paths
from orcha.actors.messages import (
    Notify,
    SessionEnded,
    Stop,
)
from orcha.actors.objective import ObjectiveActor
from orcha.actors.operations import Operations
from orcha.actors.pr_monitor import PRMonitor
from orcha.actors.pull_requests import PullRequestWorkflow
from orcha.actors.scheduler import Scheduler
from orcha.actors.session import SessionActor
from orcha.actors.target import Doctor, TargetActor
from orcha.actors.team_news import TeamNews
from orcha.actors.tools import SessionTools
from orcha.actors.workspaces import WorkspaceManager
from orcha.agents.registry import Exhaustion, ProviderRegistry
from orcha.errors import ConflictError, InvalidTransitionError, NotFoundError
from orcha.executor import CommandError, Executor
from orcha.forge import Forge
from orcha.guards import GuardConfig
from orcha.model import (
    Audience,
    ObjectiveStatus,
    Question,
    QuestionStatus,
    Session,
    SessionRole,
    SessionStatus,
    Target,
    TargetKind,
)
from orcha.ports import Db, call
from orcha.redact import DEFAULT_REDACTOR
from orcha.scheduling import LIVE_STATUSES
from orcha.store_port import StorePort
from orcha.supervisors import ChildSpec, Intensity, Restart, Supervisor, compact_reason

log = logging.getLogger(__name__)


def _default_work_root() -> str:
    return str(paths.data_dir() / "work")


def _default_artifacts_root() -> str:
    return str(paths.data_dir() / "artifacts")


@attrs.frozen(kw_only=True)
class LocalTarget:
    name: str = "local"
    capacity_sessions: int = 4
    work_root: str = attrs.field(factory=_default_work_root)
    """Checkouts and mirrors; the doctor creates it 0700. Default: ``<data dir>/work``."""


@attrs.frozen(kw_only=True)
class OrchestratorConfig:
    max_concurrent: int = 8
    schedule_interval: float = 2.0
    pr_poll_interval: float = 15.0
    guards: GuardConfig = GuardConfig()
    auto_resume_on_reset: bool = True
    default_repo: str = "local/project"
    local_target: LocalTarget | None = attrs.field(factory=LocalTarget)
    intensity: Intensity = Intensity()
    manager_idle_seconds: float | None = 600.0
    """A manager with no live workers, no open question and no progress for this long is nudged once; after as
    long again the user is asked. ``None`` turns this off."""
    workspace_cleanup: str = "keep"
    """``keep`` finished checkouts (prune them with ``orcha workspaces prune``) or ``remove`` them at once."""
    artifacts_root: str = attrs.field(factory=_default_artifacts_root)
    """Where recorded artifact files are copied (in private folders), so they outlive the workspace.
    Default: ``<data dir>/artifacts``."""


@attrs.frozen(kw_only=True)
class Change:
    """Something changed: ``kind`` (objective, session, target, question, pr, transcript) and its id."""

    kind: str
    id: str


class Orchestrator(Operations):
    """Owns the actor tree; its public coroutines are the operations of orcha."""

    def __init__(
        self,
        *,
        db: Db,
        providers: ProviderRegistry,
        forge: Forge,
        doctor: Doctor,
        config: OrchestratorConfig | None = None,
        clock: Callable[[], float],
        local_executor: Executor | None = None,
    ) -> None:
        self.db = db
        self.providers = providers
        self.forge = forge
        self.config = config or OrchestratorConfig()
        self.clock = clock
        self._doctor = doctor
        self._local_executor = local_executor
        self.workspaces = WorkspaceManager(self)
        self.scheduler = Scheduler(self)
        self.pr_monitor = PRMonitor(self)
        self.pull_requests = PullRequestWorkflow(self)
        self.news = TeamNews(self)
        sup = self.config.intensity
        self._targets_sup = Supervisor("targets", intensity=sup)
        self._objectives_sup = Supervisor("objectives", intensity=sup)
        self._sessions_sup = Supervisor("sessions", intensity=sup, on_crash=self._session_crashed)
        self._services_sup = Supervisor("services", intensity=sup)
        self._sessions: dict[str, SessionActor] = {}
        self._objectives: dict[str, ObjectiveActor] = {}
        self._targets: dict[str, TargetActor] = {}
        self._listeners: set[trio.MemorySendChannel[Change]] = set()
        self.mcp_base_url: str | None = None
        """Where sessions reach their MCP endpoint (``<base>/mcp/<session id>``); set once the server listens."""
        self._mcp_secrets: dict[str, str] = {}

    # --- the tree -----------------------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[Orchestrator] = trio.TASK_STATUS_IGNORED) -> None:
        """Run the actor tree until cancelled. ``task_status.started`` fires once it takes requests."""
        async with trio.open_nursery() as nursery:
            for supervisor in (self._targets_sup, self._objectives_sup, self._sessions_sup, self._services_sup):
                await nursery.start(supervisor.run)
            await self._recover()
            for agent, until, billing, reason in await self.db.run(lambda s: s.provider_limits()):
                if agent in self.providers.agents:
                    self.providers.mark_exhausted(Exhaustion(agent=agent, until=until, billing=billing, reason=reason))
            for target in await self.db.run(lambda s: s.list_targets()):
                self._start_target_actor(target.id)
            await self._ensure_local_target()
            for objective in await self.db.run(lambda s: s.list_objectives(status=ObjectiveStatus.ACTIVE, limit=10**6)):
                self._start_objective_actor(objective.id)
            for service in (self.scheduler, self.pr_monitor):
                self._services_sup.start_child(ChildSpec(name=service.name, run=service.run, restart=Restart.PERMANENT))
            task_status.started(self)

    async def _recover(self) -> None:
        """Sessions that were live when orcha last stopped have no process now: they go back to the queue
        (their slots are freed; they keep their workspace and provider session id), and the scheduler starts
        them again, resuming their conversation."""
        stale = await self.db.run(lambda s: s.list_sessions(statuses=LIVE_STATUSES))
        for session in stale:
            reason = "orcha restarted while it ran"
            with contextlib.suppress(InvalidTransitionError):
                if session.status is not SessionStatus.STARTING and session.status is not SessionStatus.PAUSED:
                    await self.db.run(
                        call(StorePort.update_session_status, session.id, SessionStatus.PAUSED, reason=reason)
                    )
                await self.db.run(
                    call(StorePort.update_session_status, session.id, SessionStatus.QUEUED, reason=reason)
                )
            await self.db.run(call(StorePort.release_target_slot, session.id))

    async def _ensure_local_target(self) -> None:
        local = self.config.local_target
        if local is None:
            return
        if any(t.name == local.name for t in await self.db.run(lambda s: s.list_targets())):
            return
        await self.add_target(
            name=local.name, kind=TargetKind.LOCAL, work_root=local.work_root, capacity_sessions=local.capacity_sessions
        )

    def _start_target_actor(self, target_id: str) -> None:
        self._supervise(
            self._targets, target_id, lambda: TargetActor(self, target_id), self._targets_sup, Restart.PERMANENT
        )

    def _start_objective_actor(self, objective_id: str) -> None:
        self._supervise(
            self._objectives,
            objective_id,
            lambda: ObjectiveActor(self, objective_id),
            self._objectives_sup,
            Restart.TRANSIENT,
        )

    def _supervise(
        self,
        registry: dict[str, Any],
        key: str,
        make: Callable[[], TargetActor | ObjectiveActor],
        supervisor: Supervisor,
        restart: Restart,
    ) -> None:
        """Register an actor at once (so it takes messages before its task runs); a restart gets a fresh one."""
        actor = make()
        registry[key] = actor
        first_run = True

        async def run() -> None:
            nonlocal first_run
            if not first_run:
                registry[key] = make()
            first_run = False
            await registry[key].run()

        supervisor.start_child(ChildSpec(name=actor.name, run=run, restart=restart))

    def start_session_actor(self, session: Session) -> None:
        """Called by the scheduler once the session holds a slot and is ``starting``."""
        actor = SessionActor(self, session)
        self._sessions[session.id] = actor
        self._sessions_sup.start_child(ChildSpec(name=actor.name, run=actor.run, restart=Restart.TEMPORARY))

    def session_actor_exited(self, session_id: str) -> None:
        self._sessions.pop(session_id, None)
        self._mcp_secrets.pop(session_id, None)
        self.scheduler.wake()

    def objective_actor_exited(self, objective_id: str) -> None:
        self._objectives.pop(objective_id, None)

    def stop_session_actor(self, session_id: str, reason: str) -> None:
        actor = self._sessions.get(session_id)
        if actor is not None:
            actor.mailbox.cast(Stop(reason=reason))

    async def _session_crashed(self, name: str, exc: BaseException) -> None:
        session_id = name.removeprefix("session:")
        reason = f"crashed: {compact_reason(exc)}"
        self._sessions.pop(session_id, None)
        await self.db.run(lambda s: s.record_event("actor_crashed", session_id=session_id, actor=name, reason=reason))
        try:
            session = await self.db.run(
                lambda s: s.update_session_status(session_id, SessionStatus.FAILED, reason=reason)
            )
        except (InvalidTransitionError, NotFoundError):
            return
        await self.session_moved(session)

    # --- notifications ------------------------------------------------------------------------------------

    def announce(self, kind: str, ident: str) -> None:
        """Tell subscribers that ``kind`` ``ident`` changed (slow subscribers miss changes, never block us)."""
        change = Change(kind=kind, id=ident)
        for listener in list(self._listeners):
            try:
                listener.send_nowait(change)
            except trio.WouldBlock:
                pass
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                self._listeners.discard(listener)

    @contextlib.asynccontextmanager
    async def subscribe(self, buffer: int = 1000) -> AsyncIterator[trio.MemoryReceiveChannel[Change]]:
        send, receive = trio.open_memory_channel[Change](buffer)
        self._listeners.add(send)
        try:
            yield receive
        finally:
            self._listeners.discard(send)
            send.close()

    async def session_moved(self, session: Session) -> None:
        self.announce("session", session.id)
        if session.status.is_terminal:
            self.scheduler.wake()
            await self.news.session_ended(session)
            actor = self._objectives.get(session.objective_id)
            if actor is not None:
                actor.mailbox.cast(
                    SessionEnded(session_id=session.id, status=session.status, reason=session.status_reason)
                )

    def transcript_appended(self, session_id: str) -> None:
        self.announce("transcript", session_id)

    # --- helpers the actors use ---------------------------------------------------------------------------

    def is_interactive(self, agent: str) -> bool:
        return self.providers.provider(agent).capabilities.interactive

    def trio_time_of(self, wall_time: float) -> float:
        """The trio clock reading at which wall-clock ``wall_time`` arrives."""
        return trio.current_time() + (wall_time - self.clock())

    def executor_for(self, target: Target) -> Executor:
        """The executor that runs commands on ``target``."""
        if target.kind is TargetKind.LOCAL and self._local_executor is not None:
            return self._local_executor
        raise CommandError(f"no executor for target {target.name} ({target.kind}) in this build")

    def mcp_endpoint(self, session_id: str) -> tuple[str | None, str | None]:
        """The session's MCP URL and its own secret, minted on first use (``None``s without a server)."""
        if self.mcp_base_url is None:
            return None, None
        secret = self._mcp_secrets.get(session_id)
        if secret is None:
            secret = self._mcp_secrets[session_id] = secrets.token_urlsafe(32)
            DEFAULT_REDACTOR.add_secret(secret)
        return f"{self.mcp_base_url.rstrip('/')}/mcp/{session_id}", secret

    def mcp_secret(self, session_id: str) -> str | None:
        """The secret a request to ``/mcp/<session_id>`` must carry; ``None`` once the session has ended."""
        return self._mcp_secrets.get(session_id) if session_id in self._sessions else None

    def tools_for(self, session_id: str) -> SessionTools:
        return SessionTools(self, session_id)

    async def doctor(self, target: Target) -> Any:
        return await self._doctor(target)

    async def mark_exhausted(self, record: Exhaustion) -> None:
        self.providers.mark_exhausted(record)
        await self.db.run(
            lambda s: s.set_provider_exhausted(
                record.agent, until=record.until, billing=record.billing, reason=record.reason
            )
        )

    async def clear_exhausted(self, agent: str, *, reason: str) -> None:
        self.providers.clear(agent)
        await self.db.run(lambda s: s.clear_provider_exhausted(agent, reason=reason))
        self.scheduler.wake()

    async def ask(self, objective_id: str, session_id: str | None, text: str, audience: Audience) -> Question:
        question = await self.db.run(
            lambda s: s.ask_question(objective_id=objective_id, asked_by=session_id, text=text, audience=audience)
        )
        self.announce("question", question.id)
        await self.news.question_asked(question)
        return question

    def wake_manager(self, objective_id: str) -> None:
        """Poke the objective's live manager: notices are waiting for it."""
        for actor in list(self._sessions.values()):
            if actor.objective_id == objective_id and actor.role is SessionRole.MANAGER:
                actor.mailbox.cast(Notify())

    async def close_question_automatically(self, question_id: str, note: str) -> None:
        with contextlib.suppress(ConflictError):
            question = await self.db.run(lambda s: s.close_question(question_id, QuestionStatus.DISMISSED, answer=note))
            await self.db.run(
                lambda s: s.add_note(
                    objective_id=question.objective_id,
                    session_id=question.asked_by,
                    text=f"question {question_id} closed: {note}",
                )
            )
            self.announce("question", question_id)
