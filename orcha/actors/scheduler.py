"""The scheduler: each tick starts what may start. It wakes at once when work appears or ends."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Collection
from typing import Protocol

import trio

from orcha.agents.registry import ProviderRegistry
from orcha.errors import OrchaError
from orcha.model import LockKind, Session, SessionRole, SessionStatus
from orcha.ports import Db
from orcha.scheduling import (
    LIVE_STATUSES,
    RUNNABLE_STATUSES,
    AwaitCapacity,
    CancelForDependency,
    Hold,
    StartOn,
    plan_tick,
)

log = logging.getLogger(__name__)


class ScheduledSessions(Protocol):
    """What the scheduler asks of the sessions' actors (each writes its own status)."""

    async def place(self, session_id: str, target_id: str) -> bool:
        """The session may start on ``target_id`` (a slot is held for it); ``False`` if it no longer waits."""

    def await_capacity(self, session_id: str, reason: str) -> None:
        """The session must wait for room, for ``reason``."""

    async def cancel(self, session_id: str, reason: str) -> None:
        """Cancel the session (e.g. its dependency failed)."""


class Scheduler:
    """Decides where queued sessions start (``plan_tick``), holds the slot, and tells each session."""

    name = "scheduler"

    def __init__(
        self,
        db: Db,
        providers: ProviderRegistry,
        *,
        clock: Callable[[], float],
        sessions: ScheduledSessions,
        max_concurrent: int,
        max_managers: int = 8,
        interval: float,
        agents_on: Callable[[str | None], Collection[str] | None] = lambda _target: None,
    ) -> None:
        self._db = db
        self._providers = providers
        self._clock = clock
        self._sessions = sessions
        self._max_concurrent = max_concurrent
        self._max_managers = max_managers
        self._interval = interval
        self._agents_on = agents_on
        """The agent CLIs each target's doctor found (``None``: unknown, nothing ruled out)."""
        self._wake = trio.Event()
        self.ticks = 0

    def wake(self) -> None:
        """Ask for a tick as soon as possible (called when work is created or ends)."""
        self._wake.set()

    async def run(self) -> None:
        while True:
            self._wake = trio.Event()
            await self.tick()
            with trio.move_on_after(self._interval):
                await self._wake.wait()

    async def tick(self) -> None:
        """One pass: the cost grows with the runnable sessions, not with history."""
        self.ticks += 1
        db = self._db
        runnable = await db.run(lambda s: s.list_sessions(statuses=RUNNABLE_STATUSES))
        if not runnable:
            return
        deps = {d for session in runnable for d in session.depends_on}
        dependency_statuses = await db.run(lambda s: s.session_statuses(deps))
        targets = await db.run(lambda s: s.list_targets())
        loads = await db.run(lambda s: s.target_loads())
        live = await db.run(lambda s: s.count_sessions(LIVE_STATUSES, role=SessionRole.WORKER))
        managers = await db.run(lambda s: s.count_sessions(LIVE_STATUSES, role=SessionRole.MANAGER))
        now = self._clock()
        unavailable = {a for a in {s.agent for s in runnable} if self._providers.choose(a, now) is None}
        decisions = plan_tick(
            runnable,
            dependency_statuses=dependency_statuses,
            targets=targets,
            loads=loads,
            live_sessions=live,
            max_concurrent=self._max_concurrent,
            live_managers=managers,
            max_managers=self._max_managers,
            unavailable_agents=unavailable,
            target_agents={t.id: self._agents_on(t.id) for t in targets},
        )
        by_id = {s.id: s for s in runnable}
        for decision in decisions:
            session = by_id[decision.session_id]
            match decision:
                case StartOn(target_id=target_id, slot=slot):
                    await self._start(session, target_id, slot=slot)
                case AwaitCapacity(reason=reason):
                    if session.status is SessionStatus.QUEUED:
                        self._sessions.await_capacity(session.id, reason)
                case CancelForDependency(reason=reason):
                    await self._sessions.cancel(session.id, reason)
                case Hold():
                    pass

    async def _start(self, session: Session, target_id: str, *, slot: bool) -> None:
        """Take the workspace's writer lock (if it has one), claim a slot, and tell the session to start."""
        session_id, status = session.id, session.status
        workspace = session.workspace_id
        if workspace is not None and not await self._db.run(
            lambda s: s.acquire_lock(LockKind.WORKSPACE, workspace, session_id)
        ):
            return  # another session writes there now; its end releases the lock and wakes us
        if slot:
            claim = await self._db.run(lambda s: s.claim_target_slot(target_id, session_id))
        else:
            claim = await self._db.run(lambda s: s.place_session(target_id, session_id))
        if not claim.granted:
            await self._release_workspace(session)
            if status is SessionStatus.QUEUED:
                self._sessions.await_capacity(session_id, f"slot claim: {claim}")
            return
        if not await self._sessions.place(session_id, target_id):  # canceled meanwhile: hand the slot back
            await self._db.run(lambda s: s.release_target_slot(session_id))
            await self._release_workspace(session)

    async def _release_workspace(self, session: Session) -> None:
        workspace = session.workspace_id
        if workspace is not None:
            with contextlib.suppress(OrchaError):
                await self._db.run(lambda s: s.release_lock(LockKind.WORKSPACE, workspace, session.id))
