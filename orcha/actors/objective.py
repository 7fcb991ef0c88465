"""The objective actor: serializes what changes an objective (spawns, its end) and reacts to session ends."""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

import attrs
import trio

from orcha import ids
from orcha.actors.deps import Announce, Questions
from orcha.actors.mailbox import Mailbox, answer
from orcha.actors.messages import (
    Finish,
    ObjectiveEnded,
    ObjectiveMessage,
    QuestionAnswered,
    SessionEnded,
    SessionMessage,
    Spawn,
)
from orcha.actors.workspaces import check_branch
from orcha.agents.registry import ProviderRegistry
from orcha.effects import EffectKey
from orcha.errors import ConflictError, InvalidInputError, OrchaError
from orcha.model import (
    Audience,
    Objective,
    ObjectiveStatus,
    QuestionStatus,
    Session,
    SessionMode,
    SessionRole,
    SessionStatus,
    WorkspaceKind,
)
from orcha.ports import Db
from orcha.targets import check_label
from orcha.transitions import dependents_to_cancel

log = logging.getLogger(__name__)


class SessionInbox(Protocol):
    """What the objective actor needs of its sessions' actors: their ids and mailboxes."""

    @property
    def id(self) -> str: ...

    @property
    def mailbox(self) -> Mailbox[SessionMessage]: ...


@attrs.frozen(kw_only=True)
class ObjectiveDeps:
    db: Db
    providers: ProviderRegistry
    start_session: Callable[[Session], None]
    """Start the actor of a session just created (it owns the session from then on)."""
    sessions_of: Callable[[str], Sequence[SessionInbox]]
    """The live session actors of an objective."""
    wake_scheduler: Callable[[], None]
    announce: Announce
    cancel_session: Callable[[str, str], Awaitable[Session]]
    questions: Questions
    notify_manager: Callable[[str, str, str], Awaitable[None]]
    """Leave a notice for the objective's manager: ``(objective_id, kind, text)``."""
    max_manager_restarts: int = 2


MANAGER_GONE = (
    "The manager of objective {objective} {how}: {reason}. Nothing moves until it has a manager. Answer to start a "
    "new manager (your answer is passed to it as an instruction), or cancel the objective."
)


class ObjectiveActor:
    """The one writer of an objective's status; it creates its sessions, tells them when it ends, and makes
    sure an active objective always has a live manager or a question to the user saying why not."""

    def __init__(
        self, deps: ObjectiveDeps, objective_id: str, *, on_exit: Callable[[str], object] = lambda _: None
    ) -> None:
        self.id = objective_id
        self.name = f"objective:{objective_id}"
        self.mailbox: Mailbox[ObjectiveMessage] = Mailbox(self.name)
        self._deps = deps
        self._on_exit = on_exit
        self._created: Objective | None = None
        """The objective as first read (for what never changes: its repo, its base branch)."""
        self._manager_question: str | None = None
        """The question asking the user what to do, while the objective has no manager."""

    async def run(self) -> None:
        """Handle messages until the objective ends."""
        try:
            async for envelope in self.mailbox:
                match envelope.message:
                    case Spawn() as spawn:
                        await answer(envelope, functools.partial(self._spawn, spawn))
                    case Finish() as finish:
                        await answer(envelope, functools.partial(self._finish, finish))
                        objective = await self._deps.db.run(lambda s: s.get_objective(self.id))
                        if objective.status.is_terminal:
                            return
                    case SessionEnded() as ended:
                        await self._session_ended(ended)
                    case QuestionAnswered() as answered:
                        await answer(envelope, functools.partial(self._answered, answered))
        finally:
            self.mailbox.close()
            self._on_exit(self.id)

    async def _spawn(self, spawn: Spawn) -> Session:
        """A replayed request (its asker was restarted) gets the session it made: found by ``create_session``
        in its own transaction, or first, here, when the request would be refused now or would make a
        workspace row before it (neither may happen twice)."""
        effect = spawn.effect
        try:
            agent = self._deps.providers.check_agent(spawn.agent or (await self._objective_as_created()).agent)
            for label in spawn.labels:
                check_label(label)
            target_id = None
            if spawn.target_id is not None:
                target_id = (await self._deps.db.run(lambda s: s.find_target(spawn.target_id or ""))).id
        except OrchaError:
            first = await self._replayed(effect)
            if first is None:
                raise
            return first
        if await self._workspace_needed(spawn):
            first = await self._replayed(effect)
            if first is not None:
                return first
        workspace_id = await self._workspace_for(spawn)
        new_id = ids.new_id("session")
        interactive = self._deps.providers.provider(agent).capabilities.interactive  # (its start need not change it)
        mode = SessionMode.INTERACTIVE if interactive else SessionMode.NONINTERACTIVE
        session = await self._deps.db.run(
            lambda s: s.create_session(
                objective_id=self.id,
                agent=agent,
                prompt=spawn.prompt,
                role=spawn.role,
                mode=mode,
                parent_session_id=spawn.parent_session_id,
                depends_on=spawn.depends_on,
                target_id=target_id,
                workspace_id=workspace_id,
                effect=effect,
                labels=spawn.labels,
                session_id=new_id,
            )
        )
        if session.id != new_id:  # a replay: the session the first request made (its actor runs, or it has ended)
            return session
        self._deps.start_session(session)
        self._deps.announce("session", session.id)
        self._deps.wake_scheduler()
        return session

    async def _objective_as_created(self) -> Objective:
        """The objective as first read: for what never changes (its agent, repo and base branch)."""
        if self._created is None:
            self._created = await self._deps.db.run(lambda s: s.get_objective(self.id))
        return self._created

    async def _replayed(self, effect: EffectKey | None) -> Session | None:
        """The session a replay of ``effect`` returns, or ``None`` (a new request, or none is keyed)."""
        if effect is None:
            return None
        first = await self._deps.db.run(lambda s: s.find_effect(effect, "spawn_session"))
        return None if first is None else await self._deps.db.run(lambda s: s.get_session(first))

    async def _workspace_needed(self, spawn: Spawn) -> bool:
        """A coding worker of an objective with a repo gets a workspace row (:meth:`_workspace_for`)."""
        objective = await self._objective_as_created()
        return (spawn.repo or objective.repo) is not None and spawn.role is SessionRole.WORKER

    async def _workspace_for(self, spawn: Spawn) -> str | None:
        """A coding worker of an objective with a repo gets a workspace row now; it is checked out at start."""
        if not await self._workspace_needed(spawn):
            return None
        objective = await self._objective_as_created()
        repo = spawn.repo or objective.repo
        assert repo is not None
        base = check_branch(spawn.base_branch or objective.base_branch or "main")
        kind = spawn.workspace_kind or (WorkspaceKind.PR_BRANCH if spawn.pr_id else WorkspaceKind.ISOLATED)
        branch = None
        if kind is WorkspaceKind.PR_BRANCH:
            if spawn.pr_id is None:
                raise InvalidInputError("a pr_branch workspace needs the PR it follows up", field="workspace_kind")
            pr = await self._deps.db.run(lambda s: s.get_pull_request(spawn.pr_id or ""))
            branch = pr.branch
        if kind is WorkspaceKind.SHARED_SCRATCH:
            existing = await self._deps.db.run(lambda s: s.list_workspaces(self.id))
            for workspace in existing:
                if workspace.kind is WorkspaceKind.SHARED_SCRATCH and workspace.repo == repo:
                    return workspace.id
        created = await self._deps.db.run(
            lambda s: s.create_workspace(objective_id=self.id, kind=kind, repo=repo, base_branch=base, branch=branch)
        )
        return created.id

    async def _finish(self, finish: Finish) -> Objective:
        """End the objective, then each live session ends itself: it is canceled (this waits until it is), or,
        for the manager that declared the objective done, completes once its turn is over (not waited for: it
        is the one asking)."""
        objective = await self._deps.db.run(
            lambda s: s.finish_objective(self.id, finish.status, summary=finish.summary)
        )
        ended = ObjectiveEnded(status=finish.status, completed_by=finish.completed_by)

        async def tell(mailbox: Mailbox[SessionMessage]) -> None:
            with contextlib.suppress(OrchaError):  # it ended meanwhile
                await mailbox.call(ended)

        async with trio.open_nursery() as nursery:
            for actor in self._deps.sessions_of(self.id):
                if actor.id == finish.completed_by:
                    actor.mailbox.cast(ended)
                else:
                    nursery.start_soon(tell, actor.mailbox)
        await self.close_open_questions(f"objective {finish.status}")
        self._deps.wake_scheduler()
        self._deps.announce("objective", objective.id)
        return objective

    async def _session_ended(self, ended: SessionEnded) -> None:
        if ended.status not in (SessionStatus.FAILED, SessionStatus.CANCELED):
            return
        if ended.role is SessionRole.MANAGER:
            await self._manager_ended(ended)
        sessions = await self._deps.db.run(lambda s: s.list_sessions(objective_id=self.id))
        for ending in dependents_to_cancel(ended.session_id, sessions):
            try:
                await self._deps.cancel_session(ending.session_id, ending.reason)
            except ConflictError:
                continue  # it ended meanwhile
            except OrchaError as exc:
                log.warning("could not cancel dependent %s: %s", ending.session_id, exc)

    # --- the objective supervisor: a live manager, or a question saying why not ------------------------------

    async def _manager_ended(self, ended: SessionEnded) -> None:
        """A manager failed or was canceled while the objective is active: restart it (through its provider's
        resume) a bounded number of times, then ask the user."""
        objective = await self._deps.db.run(lambda s: s.get_objective(self.id))
        if objective.status is not ObjectiveStatus.ACTIVE:
            return
        sessions = await self._deps.db.run(lambda s: s.list_sessions(objective_id=self.id))
        managers = [s for s in sessions if s.role is SessionRole.MANAGER]
        if any(not m.status.is_terminal for m in managers):
            return  # another manager already runs
        failed = [m for m in managers if m.status is SessionStatus.FAILED]
        reason = ended.reason or "no reason given"
        if ended.status is SessionStatus.FAILED and len(failed) <= self._deps.max_manager_restarts:
            note = f"Your previous session {ended.session_id} failed ({reason}); orcha restarted you."
            await self._new_manager(objective, resume_from=ended.session_id, note=note)
            return
        how = "failed again after restarts" if ended.status is SessionStatus.FAILED else "was canceled"
        question = await self._deps.questions.ask(
            self.id, None, MANAGER_GONE.format(objective=self.id, how=how, reason=reason), Audience.USER
        )
        self._manager_question = question.id

    async def _answered(self, answered: QuestionAnswered) -> None:
        if answered.question_id != self._manager_question:
            return
        self._manager_question = None
        objective = await self._deps.db.run(lambda s: s.get_objective(self.id))
        if objective.status is not ObjectiveStatus.ACTIVE:
            return
        sessions = await self._deps.db.run(lambda s: s.list_sessions(objective_id=self.id))
        last = max((s for s in sessions if s.role is SessionRole.MANAGER), key=lambda s: s.created_at, default=None)
        note = f"The user started you again after the previous manager ended. Their instruction: {answered.answer}"
        await self._new_manager(objective, resume_from=last.id if last else None, note=note)

    async def _new_manager(self, objective: Objective, *, resume_from: str | None, note: str) -> Session:
        """A new manager session for the objective, resuming the previous one's conversation when it had one."""
        previous = None
        if resume_from is not None:
            previous = await self._deps.db.run(lambda s: s.get_session(resume_from))
        agent = previous.agent if previous is not None else objective.agent
        interactive = self._deps.providers.provider(agent).capabilities.interactive
        mode = SessionMode.INTERACTIVE if interactive else SessionMode.NONINTERACTIVE
        session = await self._deps.db.run(
            lambda s: s.create_session(
                objective_id=self.id, agent=agent, prompt=objective.prompt, role=SessionRole.MANAGER, mode=mode
            )
        )
        psid = previous.provider_session_id if previous is not None else None
        if psid is not None:
            session = await self._deps.db.run(lambda s: s.set_session_fields(session.id, provider_session_id=psid))
        await self._deps.notify_manager(self.id, "manager_restarted", note)
        await self._deps.db.run(
            lambda s: s.record_event(
                "manager_restarted", objective_id=self.id, session_id=session.id, previous=resume_from
            )
        )
        self._deps.start_session(session)
        self._deps.announce("session", session.id)
        self._deps.wake_scheduler()
        return session

    async def close_open_questions(self, reason: str) -> None:
        """The objective ended: nobody will act on its open questions any more."""
        questions = await self._deps.db.run(
            lambda s: s.list_questions(status=QuestionStatus.OPEN, objective_id=self.id)
        )
        for question in questions:
            await self._deps.questions.close_automatically(question.id, reason)
