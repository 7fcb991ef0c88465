"""The operations of orcha, which HTTP, MCP and the fake manager all call (mixed into the Orchestrator).

Each writes through the store (directly or via the actor that owns the state) and then tells the actors
concerned. Refusals are :class:`~orcha.errors.OrchaError` values with clear messages.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from orcha.actors.messages import Answer, CancelSession, Disable, Drain, Enable, Finish, RunDoctor, Spawn, Steer
from orcha.actors.objective import ObjectiveActor
from orcha.actors.session import SessionActor
from orcha.actors.target import TargetReply
from orcha.actors.workspaces import check_branch
from orcha.errors import ConflictError, InvalidInputError, InvalidTransitionError
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
    TargetKind,
    TargetStatus,
)
from orcha.targets import check_new_target

if TYPE_CHECKING:
    from orcha.actors.scheduler import Scheduler
    from orcha.actors.target import TargetActor
    from orcha.actors.team_news import TeamNews
    from orcha.agents.registry import ProviderRegistry
    from orcha.ports import Db


class Operations:
    """The public operations, mixed into :class:`~orcha.actors.orchestrator.Orchestrator`."""

    if TYPE_CHECKING:  # provided by the Orchestrator
        db: Db
        providers: ProviderRegistry
        scheduler: Scheduler
        _sessions: dict[str, SessionActor]
        _objectives: dict[str, ObjectiveActor]
        _targets: dict[str, TargetActor]

        news: TeamNews

        def announce(self, kind: str, ident: str) -> None: ...
        async def session_moved(self, session: Session) -> None: ...
        def is_interactive(self, agent: str) -> bool: ...
        async def ask(self, objective_id: str, session_id: str | None, text: str, audience: Audience) -> Question: ...
        def _start_objective_actor(self, objective_id: str) -> None: ...
        def _start_target_actor(self, target_id: str) -> None: ...

    async def create_objective(
        self,
        *,
        title: str,
        prompt: str,
        agent: str,
        repo: str | None = None,
        base_branch: str | None = None,
    ) -> tuple[Objective, Session]:
        """Create an objective and its manager session; the scheduler starts the manager."""
        agent = self.providers.check_agent(agent)
        if base_branch is not None:
            check_branch(base_branch)
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
        self,
        objective_id: str,
        status: ObjectiveStatus,
        *,
        summary: str | None = None,
        completed_by: str | None = None,
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
        await self.news.question_answered(question)
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
        """Register a target and run its doctor; it goes online only if the doctor passes.

        Fields that could never be used safely (see :func:`orcha.targets.check_new_target`) are refused before
        anything is stored; nothing is created on the target before its doctor runs."""
        check_new_target(name=name, work_root=work_root, host=host, user=user, port=port, metadata=metadata)
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
