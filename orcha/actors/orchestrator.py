"""The composition root: it builds the components, hands each the collaborators it uses, and runs the tree.

:meth:`Orchestrator.run` builds the tree inside the caller's nursery::

    orchestrator
    ├── targets      Supervisor (one-for-one, permanent)  → target:<id>
    ├── objectives   Supervisor (one-for-one, transient)  → objective:<id>
    ├── sessions     Supervisor (temporary children)      → session:<id>  (one per unfinished session)
    └── services     Supervisor (permanent)               → scheduler, pr-monitor

It decides nothing itself: :attr:`operations` is what HTTP, MCP and the tools call; each actor owns its
state. What it keeps is the registry of live actors and the wiring between them.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import trio

from orcha import paths
from orcha.actors.changes import Change, ChangeFeed
from orcha.actors.deps import SessionDeps, SessionSettings
from orcha.actors.endpoints import McpSecrets, TargetAgents, TargetExecutors
from orcha.actors.limits import ProviderLimitBook
from orcha.actors.messages import AwaitCapacity, CancelSession, Notify, Place, SessionEnded, Unreachable
from orcha.actors.objective import ObjectiveActor, ObjectiveDeps
from orcha.actors.operations import Operations
from orcha.actors.pr_monitor import PRMonitor
from orcha.actors.process_sweep import HostProcesses, LocalHost, sweep_marked_processes, sweep_owned_processes
from orcha.actors.pull_requests import PullRequestWorkflow
from orcha.actors.questions import QuestionDesk
from orcha.actors.scheduler import Scheduler
from orcha.actors.session import SessionActor
from orcha.actors.target import TargetActor, TargetDeps
from orcha.actors.team_news import TeamNews
from orcha.actors.tools import SessionTools
from orcha.actors.transcript_buffer import TranscriptWriter
from orcha.actors.workspaces import WorkspaceManager
from orcha.agents.registry import ProviderRegistry
from orcha.doctor import Check, Doctor, run_bootstrap
from orcha.errors import OrchaError
from orcha.executor import Executor
from orcha.forge import Forge
from orcha.guards import GuardConfig
from orcha.model import ObjectiveStatus, Session, SessionEnd, SessionRole, SessionStatus, Target, TargetKind
from orcha.ports import Db
from orcha.supervisors import ChildSpec, Intensity, Restart, Supervisor

__all__ = ["Change", "LocalTarget", "Orchestrator", "OrchestratorConfig"]

UNFINISHED = frozenset(s for s in SessionStatus if not s.is_terminal)
SSH_SWEEP_SECONDS = 30.0
"""How long the boot sweep may spend on one SSH target."""

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
    """A cap on live workers across targets (each also holds a slot of its target)."""
    max_managers: int = 8
    """A cap on live managers; they hold no target slot, so a manager waiting for its team keeps no worker out."""
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
    done_turn_grace: float = 30.0
    """A manager that called mark_objective_done completes when its turn ends, or after this many seconds."""
    mcp_key: bytes | None = None
    """The private key the sessions' MCP secrets are derived from (the same after a restart, so a re-adopted
    pane keeps its secret); ``None``: random secrets for each start."""
    artifacts_root: str = attrs.field(factory=_default_artifacts_root)
    """Where recorded artifact files are copied (in private folders), so they outlive the workspace.
    Default: ``<data dir>/artifacts``."""


class Orchestrator:
    """Builds orcha's components and runs its actor tree; :attr:`operations` is its public face."""

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
        processes: LocalHost | None = None,
        ssh_executor: Callable[[Target], Executor] | None = None,
        ssh_processes: Callable[[Target], HostProcesses] | None = None,
    ) -> None:
        self.db = db
        self._processes = processes
        """This machine's processes: the boot sweep stops or re-adopts what an earlier orcha left running."""
        self._ssh_processes = ssh_processes
        """An SSH target's processes, for the same sweep there (over its connection)."""
        self.config = config = config or OrchestratorConfig()
        self.changes = ChangeFeed()
        self.mcp = McpSecrets(config.mcp_key)
        announce = self.changes.announce
        self.target_agents = TargetAgents()
        self.scheduler = Scheduler(
            db, providers, clock=clock, sessions=self, max_concurrent=config.max_concurrent,
            max_managers=config.max_managers, interval=config.schedule_interval, agents_on=self.target_agents.on,
        )  # fmt: skip
        self.news = TeamNews(db, wake_manager=self._wake_manager)
        self.questions = QuestionDesk(db, announce, self.news.question_asked)
        self.limits = ProviderLimitBook(db, providers, self.scheduler.wake)
        self.executors = executors = TargetExecutors(local_executor, ssh_executor)
        self.workspaces = WorkspaceManager(
            db, executors, cleanup=config.workspace_cleanup, artifacts_root=config.artifacts_root
        )
        self.operations = Operations(
            db, providers, actors=self, announce=announce, wake_scheduler=self.scheduler.wake,
            news=self.news, questions=self.questions, check_repo=self.workspaces.check_repo,
        )  # fmt: skip
        self.pull_requests = PullRequestWorkflow(
            db, forge, executors, self.workspaces, news=self.news, questions=self.questions, announce=announce,
            spawn=self.operations.spawn, default_repo=config.default_repo,
        )  # fmt: skip
        self.pr_monitor = PRMonitor(db, self.pull_requests.refresh, interval=config.pr_poll_interval)
        self.transcripts = TranscriptWriter(
            db, self.changes.lines_committed, on_lines=self.changes.publish_lines, on_usage=self._usage_committed
        )
        self._session_deps = SessionDeps(
            db=db,
            clock=clock,
            settings=SessionSettings(
                guards=config.guards,
                manager_idle_seconds=config.manager_idle_seconds,
                auto_resume_on_reset=config.auto_resume_on_reset,
                done_turn_grace=config.done_turn_grace,
            ),
            providers=providers,
            limits=self.limits,
            workspaces=self.workspaces,
            executors=executors,
            mcp=self.mcp,
            questions=self.questions,
            observer=self,
            tools_for=self.tools_for,
            agents_on=self.target_agents.on,
            transcripts=self.transcripts,
            stop_leftovers=self._stop_leftovers,
        )
        self._objective_deps = ObjectiveDeps(
            db=db, providers=providers, start_session=self.start_session, sessions_of=self._session_actors_of,
            wake_scheduler=self.scheduler.wake, announce=announce, cancel_session=self.operations.cancel_session,
            questions=self.questions, notify_manager=self.news.notify,
        )  # fmt: skip
        self._target_deps = TargetDeps(
            db=db,
            doctor=doctor,
            wake_scheduler=self.scheduler.wake,
            announce=announce,
            record_agents=self.target_agents.record,
            bootstrap=self._bootstrap,
        )
        sup = config.intensity
        self._targets_sup = Supervisor("targets", intensity=sup)
        self._objectives_sup = Supervisor("objectives", intensity=sup)
        self._sessions_sup = Supervisor("sessions", intensity=sup)
        self._services_sup = Supervisor("services", intensity=sup)
        self._sessions: dict[str, SessionActor] = {}
        self._by_objective: dict[str, dict[str, SessionActor]] = {}
        """The live session actors of each objective (a manager's announce looks there, not through all)."""
        self._managers: dict[str, dict[str, SessionActor]] = {}
        """The live manager actors of each objective (a worker's every move pokes them: found without a scan)."""
        self._objectives: dict[str, ObjectiveActor] = {}
        self._targets: dict[str, TargetActor] = {}
        self._services_started = False

    # --- the tree -----------------------------------------------------------------------------------------

    async def run(
        self, *, hold_services: bool = False, task_status: trio.TaskStatus[Orchestrator] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Run the actor tree until cancelled. ``task_status.started`` fires once it takes requests.

        With ``hold_services``, no session starts (no scheduler, no PR monitor) until :meth:`start_services`:
        ``orcha serve`` starts its web server first, so that every session gets its MCP endpoint."""
        async with trio.open_nursery() as nursery:
            await nursery.start(self.transcripts.run)  # when it stops, actors that end commit their own lines
            await nursery.start(self.changes.timer.run)  # the streams' keep-alive waits
            for supervisor in (self._targets_sup, self._objectives_sup, self._sessions_sup, self._services_sup):
                await nursery.start(supervisor.run)
            await self.limits.load()
            for target in await self.db.run(lambda s: s.list_targets()):
                self.start_target(target.id)
            await self._ensure_local_target()
            if self._processes is not None:  # before any session actor: what an earlier orcha left running
                await sweep_owned_processes(self.db, self._processes)
                local = [t.id for t in await self.db.run(lambda s: s.list_targets()) if t.kind is TargetKind.LOCAL]
                await sweep_marked_processes(self.db, self._processes, target_id=local[0] if local else None)
            await self._sweep_ssh_targets()
            for objective in await self.db.run(
                lambda s: s.list_objectives(status=ObjectiveStatus.ACTIVE, limit=10**6), long=True
            ):
                self.start_objective(objective.id)
            for session in await self.db.run(lambda s: s.list_sessions(statuses=UNFINISHED), long=True):
                self.start_session(session, adopted=True)
            for actor in list(self._sessions.values()):
                await actor.ready.wait()  # each put its stale session back in the queue before the scheduler runs
            if not hold_services:
                self.start_services()
            task_status.started(self)

    def start_services(self) -> None:
        """Start the scheduler and the PR monitor (once; :meth:`run` does unless told to hold them)."""
        if self._services_started:
            return
        self._services_started = True
        for service in (self.scheduler, self.pr_monitor):
            self._services_sup.start_child(ChildSpec(name=service.name, run=service.run, restart=Restart.PERMANENT))

    async def _sweep_ssh_targets(self) -> None:
        """The boot sweep on each SSH target with recorded processes, each bounded in time: an unreachable
        target keeps its records for the next start (and goes offline)."""
        if self._ssh_processes is None:
            return
        recorded = {r.target_id for r in await self.db.run(lambda s: s.list_owned_processes())}
        for target in await self.db.run(lambda s: s.list_targets()):
            if target.kind is not TargetKind.SSH or target.id not in recorded:
                continue
            with trio.move_on_after(SSH_SWEEP_SECONDS):
                try:
                    await sweep_owned_processes(self.db, self._ssh_processes(target), target_ids={target.id})
                except OrchaError as exc:
                    log.error("boot sweep on %s: %s; its records are kept", target.name, exc)

    async def _stop_leftovers(self, session_id: str) -> None:
        """Stop the processes still recorded for an ended session (on this machine, or over its SSH target's
        connection, bounded in time), as the boot sweep would at the next start."""
        records = [r for r in await self.db.run(lambda s: s.list_owned_processes()) if r.session_id == session_id]
        if not records:
            return
        targets = {t.id: t for t in await self.db.run(lambda s: s.list_targets())}
        for target_id in {r.target_id for r in records}:
            target = targets.get(target_id)
            if target is None:
                continue
            try:
                if target.kind is TargetKind.LOCAL and self._processes is not None:
                    await sweep_owned_processes(self.db, self._processes, session_id=session_id)
                elif target.kind is TargetKind.SSH and self._ssh_processes is not None:
                    with trio.move_on_after(SSH_SWEEP_SECONDS):
                        await sweep_owned_processes(
                            self.db, self._ssh_processes(target), target_ids={target.id}, session_id=session_id
                        )
            except OrchaError as exc:  # its records are kept: the next start's sweep tries again
                log.error("session %s: cannot stop what it left on %s: %s", session_id, target.name, exc)

    async def _ensure_local_target(self) -> None:
        local = self.config.local_target
        if local is None:
            return
        existing = [t for t in await self.db.run(lambda s: s.list_targets()) if t.name == local.name]
        if existing:  # the flags given at this start win over what an earlier start stored
            if existing[0].capacity_sessions != local.capacity_sessions:
                target_id, capacity = existing[0].id, local.capacity_sessions
                await self.db.run(lambda s: s.set_target_capacity(target_id, capacity))
                self.changes.announce("target", target_id)
            return
        await self.operations.add_target(
            name=local.name, kind=TargetKind.LOCAL, work_root=local.work_root, capacity_sessions=local.capacity_sessions
        )

    def target_unreachable(self, target_id: str, reason: str) -> None:
        """A target's connection failed after its retries: its actor takes it offline until a doctor passes."""
        actor = self._targets.get(target_id)
        if actor is not None:
            actor.mailbox.cast(Unreachable(reason=reason))

    async def _bootstrap(self, target: Target) -> Check:
        try:
            executor = self.executors.for_target(target)
        except OrchaError as exc:
            return Check(name="bootstrap", ok=False, detail=str(exc))
        return await run_bootstrap(executor, target)

    # --- the registry of live actors (Operations' Actors protocol) -----------------------------------------

    def session(self, session_id: str) -> SessionActor | None:
        return self._sessions.get(session_id)

    def objective(self, objective_id: str) -> ObjectiveActor | None:
        return self._objectives.get(objective_id)

    def target(self, target_id: str) -> TargetActor | None:
        return self._targets.get(target_id)

    def start_target(self, target_id: str) -> None:
        self._supervise(
            self._targets, target_id, lambda: TargetActor(self._target_deps, target_id), self._targets_sup,
            Restart.PERMANENT,
        )  # fmt: skip

    def start_objective(self, objective_id: str) -> None:
        self._supervise(
            self._objectives,
            objective_id,
            lambda: ObjectiveActor(self._objective_deps, objective_id, on_exit=self._objectives.pop),
            self._objectives_sup,
            Restart.TRANSIENT,
        )

    def start_session(self, session: Session, *, adopted: bool = False) -> None:
        """An actor for a session that is not finished: at its creation, and (``adopted``) for each one found
        at orcha's start or written by someone else."""
        if session.id in self._sessions:
            return
        actor = SessionActor(self._session_deps, session, adopted=adopted)
        self._sessions[session.id] = actor
        self._by_objective.setdefault(session.objective_id, {})[session.id] = actor
        if actor.role is SessionRole.MANAGER:
            self._managers.setdefault(session.objective_id, {})[session.id] = actor
        self._sessions_sup.start_child(ChildSpec(name=actor.name, run=actor.run, restart=Restart.TEMPORARY))

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

    def _session_actors_of(self, objective_id: str) -> list[SessionActor]:
        return list(self._by_objective.get(objective_id, {}).values())

    def _wake_manager(self, objective_id: str) -> None:
        """Poke the objective's live manager: notices are waiting for it."""
        for actor in self._managers.get(objective_id, {}).values():
            actor.mailbox.cast(Notify())

    # --- what the scheduler asks of sessions (its ScheduledSessions protocol) ------------------------------

    async def place(self, session_id: str, target: Target) -> bool:
        """Tell a queued session it may start on ``target``; ``False`` when it no longer waits to start."""
        actor = self._sessions.get(session_id)
        if actor is None:  # a session written to the store by someone else: it gets its actor now
            session = await self.db.run(lambda s: s.get_session(session_id))
            if session.status.is_terminal:
                return False
            self.start_session(session, adopted=True)
            actor = self._sessions[session_id]
        try:
            await actor.mailbox.call(Place(target_id=target.id, target=target))
        except OrchaError:  # it was canceled meanwhile, or its actor is gone
            return False
        return True

    def await_capacity(self, session_id: str, reason: str) -> None:
        actor = self._sessions.get(session_id)
        if actor is not None:
            actor.mailbox.cast(AwaitCapacity(reason=reason))

    async def cancel(self, session_id: str, reason: str) -> None:
        actor = self._sessions.get(session_id)
        if actor is not None:
            with contextlib.suppress(OrchaError):  # it ended meanwhile
                await actor.mailbox.call(CancelSession(reason=reason))

    # --- what session actors tell the rest of orcha (their SessionObserver protocol) -----------------------

    async def session_moved(self, session: Session, end: SessionEnd | None = None) -> None:
        self._announce_session(session)
        if session.target_id is not None:  # a start claims a slot there, an end hands it back
            self.changes.announce("target", session.target_id)
        if session.status.is_terminal:
            self.scheduler.wake()
            await self.news.session_ended(session, end)
            actor = self._objectives.get(session.objective_id)
            if actor is not None:
                actor.mailbox.cast(
                    SessionEnded(
                        session_id=session.id, status=session.status, reason=session.status_reason, role=session.role
                    )
                )

    def session_updated(self, session: Session) -> None:
        self._announce_session(session)

    def _usage_committed(self, session_ids: Sequence[str]) -> None:
        """The transcript writer committed usage of these sessions: their rows changed."""
        for session_id in session_ids:
            actor = self._sessions.get(session_id)
            if actor is not None:
                self._announce_row(session_id, actor.objective_id, actor.role)

    def _announce_session(self, session: Session) -> None:
        self._announce_row(session.id, session.objective_id, session.role)

    def _announce_row(self, session_id: str, objective_id: str, role: SessionRole) -> None:
        """A session's row, its objective's roll-up, and (for a worker) its manager's count of live workers."""
        self.changes.announce("session", session_id)
        self.changes.announce("objective", objective_id)
        if role is SessionRole.WORKER:
            for manager_id in self._managers.get(objective_id, ()):
                self.changes.announce("session", manager_id)

    def transcript_appended(self, session_id: str) -> None:
        self.changes.announce("transcript", session_id)

    def session_exited(self, session_id: str) -> None:
        actor = self._sessions.pop(session_id, None)
        if actor is not None:
            of_objective = self._by_objective.get(actor.objective_id, {})
            if of_objective.get(session_id) is actor:
                del of_objective[session_id]
            if not of_objective:
                self._by_objective.pop(actor.objective_id, None)
            managers = self._managers.get(actor.objective_id, {})
            if managers.get(session_id) is actor:
                del managers[session_id]
                if not managers:
                    del self._managers[actor.objective_id]
        self.scheduler.wake()

    # --- the agents' tool surface and MCP ------------------------------------------------------------------

    def tools_for(self, session_id: str) -> SessionTools:
        actor = self._sessions.get(session_id)
        identity = (actor.role, actor.objective_id) if actor is not None else None  # known: not read again
        return SessionTools(
            self.operations, self.db, self.pull_requests, self.workspaces, session_id, identity=identity
        )

    def mcp_secret(self, session_id: str) -> str | None:
        """The secret a request to ``/mcp/<session_id>`` must carry; ``None`` unless the session runs."""
        return self.mcp.secret_of(session_id) if session_id in self._sessions else None
