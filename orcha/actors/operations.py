"""The operations of orcha: what HTTP, MCP and the agents' tools all call.

Each checks its input, then asks the actor that owns the state (an objective's, a session's, a target's) to
change it; the actor writes through the store and announces the change. Refusals are
:class:`~orcha.errors.OrchaError` values with clear messages.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from orcha.actors.deps import Announce
from orcha.actors.messages import (
    Answer,
    CancelSession,
    Disable,
    Drain,
    Enable,
    Finish,
    QuestionAnswered,
    RunDoctor,
    Spawn,
    Steer,
)
from orcha.actors.objective import ObjectiveActor
from orcha.actors.questions import QuestionDesk
from orcha.actors.session import SessionActor
from orcha.actors.target import TargetActor, TargetReply
from orcha.actors.team_news import TeamNews
from orcha.actors.workspaces import check_branch
from orcha.agents.registry import ProviderRegistry
from orcha.effects import EffectKey
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
from orcha.ports import Db
from orcha.targets import check_new_target


class Actors(Protocol):
    """The live actors, by id, and how to start one (the composition root keeps them)."""

    def session(self, session_id: str) -> SessionActor | None: ...
    def objective(self, objective_id: str) -> ObjectiveActor | None: ...
    def target(self, target_id: str) -> TargetActor | None: ...
    def start_objective(self, objective_id: str) -> None: ...
    def start_target(self, target_id: str) -> None: ...
    def start_session(self, session: Session) -> None: ...


class Operations:
    """The public operations of orcha."""

    def __init__(
        self,
        db: Db,
        providers: ProviderRegistry,
        *,
        actors: Actors,
        announce: Announce,
        wake_scheduler: Callable[[], None],
        news: TeamNews,
        questions: QuestionDesk,
        check_repo: Callable[[str, str], Awaitable[None]],
    ) -> None:
        self.db = db
        self._providers = providers
        self._actors = actors
        self._announce = announce
        self._wake_scheduler = wake_scheduler
        self._news = news
        self._questions = questions
        self._check_repo = check_repo

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
        agent = self._providers.check_agent(agent)
        if base_branch is not None:
            check_branch(base_branch)
        if repo is not None:
            await self._check_repo(repo, base_branch or "main")
        interactive = self._providers.provider(agent).capabilities.interactive
        mode = SessionMode.INTERACTIVE if interactive else SessionMode.NONINTERACTIVE
        objective, manager = await self.db.run(
            lambda s: s.create_objective(
                title=title, prompt=prompt, agent=agent, repo=repo, base_branch=base_branch, manager_mode=mode
            )
        )
        self._actors.start_objective(objective.id)
        self._actors.start_session(manager)
        self._announce("objective", objective.id)
        self._wake_scheduler()
        return objective, manager

    def _objective_actor(self, objective_id: str) -> ObjectiveActor:
        actor = self._actors.objective(objective_id)
        if actor is None:
            raise ConflictError(f"objective {objective_id} is not active")
        return actor

    async def spawn(self, objective_id: str, spawn: Spawn) -> Session:
        if self._actors.objective(objective_id) is None:  # NotFoundError first, else "not active"
            await self.db.run(lambda s: s.get_objective(objective_id))
        return await self._spawn_in(objective_id, spawn)

    async def _spawn_in(self, objective_id: str, spawn: Spawn) -> Session:
        """``spawn`` for an objective known to exist."""
        session: Session = await self._objective_actor(objective_id).mailbox.call(spawn)
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
        labels: tuple[str, ...] = (),
    ) -> Session:
        return await self.spawn(  # the objective's own agent unless another is named
            objective_id,
            Spawn(
                prompt=prompt,
                agent=agent or None,
                role=role,
                target_id=target,
                labels=labels,
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
        """Cancel a session: its actor ends it (its process group is killed) unless it ended first (409)."""
        session = await self.db.run(lambda s: s.get_session(session_id))
        actor = self._actors.session(session_id)
        if session.status.is_terminal or actor is None:
            raise InvalidTransitionError("session", str(session.status), "canceled", allowed=frozenset())
        try:
            result: Session = await actor.mailbox.call(CancelSession(reason=reason))
        except ConflictError:  # it ended as we asked
            session = await self.db.run(lambda s: s.get_session(session_id))
            raise InvalidTransitionError("session", str(session.status), "canceled", allowed=frozenset()) from None
        return result

    def _live_actor(self, session: Session) -> SessionActor:
        if session.status.is_terminal:
            raise InvalidTransitionError("session", str(session.status), "running", allowed=frozenset())
        actor = self._actors.session(session.id)
        if actor is None:
            raise ConflictError(f"session {session.id} is {session.status}: it has no actor")
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
        if not self._providers.provider(session.agent).capabilities.screen:
            raise ConflictError(f"session {session.id} has no screen: agent {session.agent!r} does not run in tmux")
        actor = self._actors.session(session.id)
        if actor is None:
            raise ConflictError(f"session {session.id} is {session.status}: it has no live screen")
        return await actor.snapshot()

    async def ask_user(self, session_id: str, text: str, *, effect: EffectKey | None = None) -> Question:
        session = await self.db.run(lambda s: s.get_session(session_id))
        return await self._questions.ask(session.objective_id, session_id, text, Audience.USER, effect=effect)

    async def withdraw_question(self, question_id: str, reason: str) -> None:
        """Close an open question nobody needs answered any more, with ``reason`` (kept as a note)."""
        await self._questions.close_automatically(question_id, reason)

    async def answer_question(self, question_id: str, answer: str) -> Question:
        """Answer an open question; the session that asked gets the answer (and resumes if it waited on it)."""
        question = await self.db.run(lambda s: s.close_question(question_id, QuestionStatus.ANSWERED, answer=answer))
        self._announce("question", question_id)
        await self._news.question_answered(question)
        if question.asked_by is not None:
            actor = self._actors.session(question.asked_by)
            if actor is not None:
                with contextlib.suppress(ConflictError):
                    await actor.mailbox.call(Answer(question_id=question_id, text=answer))
        else:  # the objective asked it (e.g. it has no manager): it decides what the answer starts
            objective_actor = self._actors.objective(question.objective_id)
            if objective_actor is not None:
                with contextlib.suppress(ConflictError):
                    await objective_actor.mailbox.call(QuestionAnswered(question_id=question_id, answer=answer))
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
        self._actors.start_target(target.id)
        return await self.target_request(target.id, RunDoctor(bootstrap=True))

    async def target_request(self, target_id: str, message: Drain | Disable | Enable | RunDoctor) -> TargetReply:
        await self.db.run(lambda s: s.get_target(target_id))
        actor = self._actors.target(target_id)
        if actor is None:
            raise ConflictError(f"target {target_id} has no running actor")
        reply: TargetReply = await actor.mailbox.call(message)
        return reply
