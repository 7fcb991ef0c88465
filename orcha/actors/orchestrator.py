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
from collections.abc import AsyncIterator, Callable
from operator import methodcaller
from typing import Any

import attrs
import trio

from orcha.actors.messages import (
    Answer,
    CancelSession,
    Disable,
    Drain,
    Enable,
    Finish,
    RunDoctor,
    SessionEnded,
    Spawn,
    Steer,
    Stop,
)
from orcha.actors.objective import ObjectiveActor
from orcha.actors.pr_monitor import PRMonitor
from orcha.actors.pull_requests import PullRequestWorkflow
from orcha.actors.scheduler import Scheduler
from orcha.actors.session import SessionActor
from orcha.actors.target import Doctor, TargetActor, TargetReply
from orcha.actors.tools import SessionTools
from orcha.agents.registry import Exhaustion, ProviderRegistry
from orcha.errors import ConflictError, InvalidTransitionError, NotFoundError
from orcha.forge import Forge
from orcha.guards import GuardConfig
from orcha.model import (
    Audience,
    Objective,
    ObjectiveStatus,
    Question,
    QuestionStatus,
    Session,
    SessionMode,
    SessionRole,
    SessionStatus,
    Target,
    TargetKind,
    TargetStatus,
)
from orcha.ports import StoreAccess
from orcha.scheduling import LIVE_STATUSES
from orcha.supervisors import ChildSpec, Intensity, Restart, Supervisor, compact_reason

log = logging.getLogger(__name__)


@attrs.frozen(kw_only=True)
class LocalTarget:
    name: str = "local"
    capacity_sessions: int = 4
    work_root: str = "/tmp/orcha-work"


@attrs.frozen(kw_only=True)
class OrchestratorConfig:
    max_concurrent: int = 8
    schedule_interval: float = 2.0
    pr_poll_interval: float = 15.0
    guards: GuardConfig = GuardConfig()
    auto_resume_on_reset: bool = True
    default_repo: str = "local/project"
    local_target: LocalTarget | None = LocalTarget()
    intensity: Intensity = Intensity()


@attrs.frozen(kw_only=True)
class Change:
    """Something changed: ``kind`` (objective, session, target, question, pr, transcript) and its id."""

    kind: str
    id: str


class Orchestrator:
    """Owns the actor tree; its public coroutines are the operations of orcha."""

    def __init__(
        self,
        *,
        db: StoreAccess,
        providers: ProviderRegistry,
        forge: Forge,
        doctor: Doctor,
        config: OrchestratorConfig | None = None,
        clock: Callable[[], float],
    ) -> None:
        self.db = db
        self.providers = providers
        self.forge = forge
        self.config = config or OrchestratorConfig()
        self.clock = clock
        self._doctor = doctor
        self.scheduler = Scheduler(self)
        self.pr_monitor = PRMonitor(self)
        self.pull_requests = PullRequestWorkflow(self)
        sup = self.config.intensity
        self._targets_sup = Supervisor("targets", intensity=sup)
        self._objectives_sup = Supervisor("objectives", intensity=sup)
        self._sessions_sup = Supervisor("sessions", intensity=sup, on_crash=self._session_crashed)
        self._services_sup = Supervisor("services", intensity=sup)
        self._sessions: dict[str, SessionActor] = {}
        self._objectives: dict[str, ObjectiveActor] = {}
        self._targets: dict[str, TargetActor] = {}
        self._listeners: set[trio.MemorySendChannel[Change]] = set()

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
        """Sessions that were live when orcha last stopped have no process now: they end as failed."""
        stale = await self.db.run(lambda s: s.list_sessions(statuses=LIVE_STATUSES))
        for session in stale:
            with contextlib.suppress(InvalidTransitionError):
                await self.db.run(
                    methodcaller(
                        "update_session_status",
                        session.id,
                        SessionStatus.FAILED,
                        reason="interrupted: orcha stopped while it ran",
                    )
                )

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
        return question

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

    # --- operations (HTTP, MCP and the fake manager call these) -------------------------------------------

    async def create_objective(
        self, *, title: str, prompt: str, agent: str, repo: str | None = None, base_branch: str | None = None
    ) -> tuple[Objective, Session]:
        """Create an objective and its manager session; the scheduler starts the manager."""
        agent = self.providers.check_agent(agent)
        mode = SessionMode.INTERACTIVE if self.is_interactive(agent) else SessionMode.NONINTERACTIVE
        objective, manager = await self.db.run(
            lambda s: s.create_objective(
                title=title, prompt=prompt, agent=agent, repo=repo, base_branch=base_branch, manager_mode=mode
            )
        )
        self._start_objective_actor(objective.id)
        self.announce("objective", objective.id)
        self.scheduler.wake()
        return objective, manager

    def _objective_actor(self, objective_id: str) -> ObjectiveActor:
        actor = self._objectives.get(objective_id)
        if actor is None:
            raise ConflictError(f"objective {objective_id} is not active")
        return actor

    async def spawn(self, objective_id: str, spawn: Spawn) -> Session:
        await self.db.run(lambda s: s.get_objective(objective_id))  # NotFoundError first
        session: Session = await self._objective_actor(objective_id).mailbox.call(spawn)
        self.announce("session", session.id)
        return session

    async def spawn_session(
        self,
        objective_id: str,
        *,
        prompt: str,
        agent: str | None = None,
        role: SessionRole = SessionRole.WORKER,
        target: str | None = None,
        depends_on: tuple[str, ...] = (),
        parent_session_id: str | None = None,
    ) -> Session:
        objective = await self.db.run(lambda s: s.get_objective(objective_id))
        return await self.spawn(
            objective_id,
            Spawn(
                prompt=prompt,
                agent=agent or objective.agent,
                role=role,
                target_id=target,
                depends_on=depends_on,
                parent_session_id=parent_session_id,
            ),
        )

    async def finish_objective(
        self, objective_id: str, status: ObjectiveStatus, *, summary: str | None = None, completed_by: str | None = None
    ) -> Objective:
        objective = await self.db.run(lambda s: s.get_objective(objective_id))
        if objective.status.is_terminal:
            raise InvalidTransitionError("objective", str(objective.status), str(status), allowed=frozenset())
        result: Objective = await self._objective_actor(objective_id).mailbox.call(
            Finish(status=status, summary=summary, completed_by=completed_by)
        )
        return result

    async def cancel_objective(self, objective_id: str, reason: str = "canceled by the user") -> Objective:
        return await self.finish_objective(objective_id, ObjectiveStatus.CANCELED, summary=reason)

    async def cancel_session(self, session_id: str, reason: str = "canceled by the user") -> Session:
        """Cancel a session: through its actor if it runs (scope → provider → process group), else in the store."""
        for _ in range(3):
            session = await self.db.run(lambda s: s.get_session(session_id))
            if session.status.is_terminal:
                raise InvalidTransitionError("session", str(session.status), "canceled", allowed=frozenset())
            actor = self._sessions.get(session_id)
            if actor is not None:
                try:
                    result: Session = await actor.mailbox.call(CancelSession(reason=reason))
                    return result
                except ConflictError:
                    continue  # the actor ended meanwhile: look again
            try:
                session = await self.db.run(
                    lambda s: s.update_session_status(session_id, SessionStatus.CANCELED, reason=reason)
                )
            except InvalidTransitionError:
                continue
            await self.session_moved(session)
            return session
        raise ConflictError(f"session {session_id} kept changing; try again")

    def _live_actor(self, session: Session) -> SessionActor:
        if session.status.is_terminal:
            raise InvalidTransitionError("session", str(session.status), "running", allowed=frozenset())
        actor = self._sessions.get(session.id)
        if actor is None:
            raise ConflictError(f"session {session.id} is {session.status}: it has not started yet")
        return actor

    async def steer(self, session_id: str, text: str) -> Session:
        """Send ``text`` to a live session: a new turn (interactive) or cancel + resume (non-interactive)."""
        if not text.strip():
            from orcha.errors import InvalidInputError

            raise InvalidInputError("a steering message needs text", field="text")
        session = await self.db.run(lambda s: s.get_session(session_id))
        await self._live_actor(session).mailbox.call(Steer(text=text))
        return await self.db.run(lambda s: s.get_session(session_id))

    async def resume_session(self, session_id: str, text: str | None = None) -> Session:
        """Resume a paused (or waiting) session, optionally with a message for its agent."""
        session = await self.db.run(lambda s: s.get_session(session_id))
        if session.status not in (SessionStatus.PAUSED, SessionStatus.WAITING_INPUT):
            raise ConflictError(f"session {session_id} is {session.status}, not paused or waiting")
        return await self.steer(session_id, text or "Continue.")

    async def screen(self, session: Session) -> str:
        """The live terminal of a session whose agent runs in one (tmux); a ConflictError for the others."""
        if not self.providers.provider(session.agent).capabilities.screen:
            raise ConflictError(f"session {session.id} has no screen: agent {session.agent!r} does not run in tmux")
        actor = self._sessions.get(session.id)
        if actor is None:
            raise ConflictError(f"session {session.id} is {session.status}: it has no live screen")
        return await actor.snapshot()

    async def ask_user(self, session_id: str, text: str) -> Question:
        session = await self.db.run(lambda s: s.get_session(session_id))
        return await self.ask(session.objective_id, session_id, text, Audience.USER)

    async def answer_question(self, question_id: str, answer: str) -> Question:
        """Answer an open question; the session that asked gets the answer (and resumes if it waited on it)."""
        question = await self.db.run(lambda s: s.close_question(question_id, QuestionStatus.ANSWERED, answer=answer))
        self.announce("question", question_id)
        if question.asked_by is not None:
            actor = self._sessions.get(question.asked_by)
            if actor is not None:
                with contextlib.suppress(ConflictError):
                    await actor.mailbox.call(Answer(question_id=question_id, text=answer))
        return question

    # --- targets ------------------------------------------------------------------------------------------

    async def add_target(
        self,
        *,
        name: str,
        kind: TargetKind,
        work_root: str,
        capacity_sessions: int,
        host: str | None = None,
        user: str | None = None,
        port: int | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> TargetReply:
        """Register a target and run its doctor; it goes online only if the doctor passes."""
        target = await self.db.run(
            lambda s: s.create_target(
                name=name,
                kind=kind,
                work_root=work_root,
                capacity_sessions=capacity_sessions,
                host=host,
                user=user,
                port=port,
                metadata=metadata,
                status=TargetStatus.OFFLINE,
            )
        )
        self._start_target_actor(target.id)
        return await self.target_request(target.id, RunDoctor())

    async def target_request(self, target_id: str, message: Drain | Disable | Enable | RunDoctor) -> TargetReply:
        await self.db.run(lambda s: s.get_target(target_id))
        actor = self._targets.get(target_id)
        if actor is None:
            raise ConflictError(f"target {target_id} has no running actor")
        reply: TargetReply = await actor.mailbox.call(message)
        return reply
