"""The scheduler: each tick starts what may start. It wakes at once when work appears or ends."""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING

import trio

from orcha.errors import ConflictError, InvalidTransitionError, OrchaError
from orcha.model import LockKind, Session, SessionStatus
from orcha.scheduling import (
    LIVE_STATUSES,
    RUNNABLE_STATUSES,
    AwaitCapacity,
    CancelForDependency,
    Hold,
    StartOn,
    plan_tick,
)

if TYPE_CHECKING:
    from orcha.actors.orchestrator import Orchestrator

log = logging.getLogger(__name__)


class Scheduler:
    name = "scheduler"

    def __init__(self, orchestrator: Orchestrator) -> None:
        self._orch = orchestrator
        self._wake = trio.Event()
        self.ticks = 0

    def wake(self) -> None:
        """Ask for a tick as soon as possible (called when work is created or ends)."""
        self._wake.set()

    async def run(self) -> None:
        while True:
            self._wake = trio.Event()
            await self.tick()
            with trio.move_on_after(self._orch.config.schedule_interval):
                await self._wake.wait()

    async def tick(self) -> None:
        """One pass: the cost grows with the runnable sessions, not with history."""
        self.ticks += 1
        db = self._orch.db
        runnable = await db.run(lambda s: s.list_sessions(statuses=RUNNABLE_STATUSES))
        if not runnable:
            return
        deps = {d for session in runnable for d in session.depends_on}
        dependency_statuses = await db.run(lambda s: s.session_statuses(deps))
        targets = await db.run(lambda s: s.list_targets())
        loads = await db.run(lambda s: s.target_loads())
        live = await db.run(lambda s: s.count_sessions(LIVE_STATUSES))
        now = self._orch.clock()
        unavailable = {a for a in {s.agent for s in runnable} if self._orch.providers.choose(a, now) is None}
        decisions = plan_tick(
            runnable,
            dependency_statuses=dependency_statuses,
            targets=targets,
            loads=loads,
            live_sessions=live,
            max_concurrent=self._orch.config.max_concurrent,
            unavailable_agents=unavailable,
        )
        by_id = {s.id: s for s in runnable}
        for decision in decisions:
            session = by_id[decision.session_id]
            match decision:
                case StartOn(target_id=target_id):
                    await self._start(session, target_id)
                case AwaitCapacity(reason=reason):
                    if session.status is SessionStatus.QUEUED:
                        await self._move(session.id, SessionStatus.WAITING_CAPACITY, reason)
                case CancelForDependency(reason=reason):
                    with contextlib.suppress(ConflictError):
                        await self._orch.cancel_session(session.id, reason)
                case Hold():
                    pass

    async def _move(self, session_id: str, status: SessionStatus, reason: str) -> bool:
        try:
            session = await self._orch.db.run(lambda s: s.update_session_status(session_id, status, reason=reason))
        except InvalidTransitionError:
            return False  # it moved meanwhile (canceled): nothing to do
        await self._orch.session_moved(session)
        return True

    async def _start(self, session: Session, target_id: str) -> None:
        """Take the workspace's writer lock (if it has one), claim a slot, move to ``starting``, start the actor."""
        session_id, status = session.id, session.status
        workspace = session.workspace_id
        if workspace is not None and not await self._orch.db.run(
            lambda s: s.acquire_lock(LockKind.WORKSPACE, workspace, session_id)
        ):
            return  # another session writes there now; its end releases the lock and wakes us
        claim = await self._orch.db.run(lambda s: s.claim_target_slot(target_id, session_id))
        if not claim.granted:
            await self._release_workspace(session)
            if status is SessionStatus.QUEUED:
                await self._move(session_id, SessionStatus.WAITING_CAPACITY, f"slot claim: {claim}")
            return
        if not await self._move(session_id, SessionStatus.STARTING, f"placed on {target_id}"):
            await self._orch.db.run(lambda s: s.release_target_slot(session_id))
            await self._release_workspace(session)
            return
        started = await self._orch.db.run(lambda s: s.get_session(session_id))
        self._orch.start_session_actor(started)

    async def _release_workspace(self, session: Session) -> None:
        workspace = session.workspace_id
        if workspace is not None:
            with contextlib.suppress(OrchaError):
                await self._orch.db.run(lambda s: s.release_lock(LockKind.WORKSPACE, workspace, session.id))
