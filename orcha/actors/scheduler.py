"""The scheduler: each tick starts what may start. It wakes at once when work appears or ends."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Collection
from typing import Protocol

import attrs
import trio

from orcha.agents.registry import ProviderRegistry
from orcha.errors import OrchaError
from orcha.model import LockKind, SessionStatus, Target
from orcha.ports import Db
from orcha.scheduling import (
    AwaitCapacity,
    CancelForDependency,
    Hold,
    Placement,
    Runnable,
    StartOn,
    needs_more,
    plan_tick,
    without_placing,
)
from orcha.store_port import StorePort

log = logging.getLogger(__name__)

WAITING_PAGE = 16
"""A tick reads the oldest this many workers waiting for capacity (and every other runnable session); more
only when room is left once they are placed: at most one start per freed slot is possible anyway."""
MAX_PAGE = 4096
"""Past this, a tick reads them all."""


class ScheduledSessions(Protocol):
    """What the scheduler asks of the sessions' actors (each writes its own status)."""

    async def place(self, session_id: str, target: Target) -> bool:
        """The session may start on ``target`` (a slot is held for it); ``False`` if it no longer waits."""

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
        self._placing: set[str] = set()
        """Sessions told to start whose answer has not come yet (their slots are claimed)."""
        self.ticks = 0

    def wake(self) -> None:
        """Ask for a tick as soon as possible (called when work is created or ends)."""
        self._wake.set()

    async def run(self) -> None:
        async with trio.open_nursery() as places:
            while True:
                self._wake = trio.Event()
                await self.tick(places)
                with trio.move_on_after(self._interval):
                    await self._wake.wait()

    async def tick(self, places: trio.Nursery | None = None) -> None:
        """One pass, in one store call: one read of what it decides on, the plan, the workspace locks and one
        transaction for the slots of every planned start; then each placed session is told at once
        (concurrently). The cost grows with the queued sessions and the first page of those waiting for
        capacity, not with history (nor with a long queue's tail).

        With ``places``, the sessions are told in that nursery and the tick returns without waiting for their
        answers (a busy loop takes a few turns for each): the next tick plans with them as started already.
        Without, it returns once every one has answered."""
        self.ticks += 1
        placing, now = frozenset(self._placing), self._clock()
        plan = await self._db.run(lambda s: self._plan(s, placing, now))
        for session_id, reason in plan.waits:
            self._sessions.await_capacity(session_id, reason)
        for session_id, reason in plan.cancels:
            await self._sessions.cancel(session_id, reason)
        if places is not None:  # (no nursery of its own: a tick costs one fewer nursery and cancel scope)
            self._tell(plan.starts, places)
            return
        async with trio.open_nursery() as nursery:
            self._tell(plan.starts, nursery)

    def _tell(self, starts: list[tuple[Runnable, Target]], nursery: trio.Nursery) -> None:
        for session, target in starts:
            self._placing.add(session.id)
            nursery.start_soon(self._place, session, target)

    def _plan(self, store: StorePort, placing: frozenset[str], now: float) -> _Plan:
        """The tick's store work and its decisions (synchronous: one store call, no ``await`` inside)."""
        page: int | None = WAITING_PAGE
        while True:  # the oldest workers waiting for capacity, more of them only while room is left after them
            view = without_placing(store.scheduling_view(waiting_workers=page), placing)
            runnable = view.runnable
            if not runnable:
                return _Plan()
            unavailable = {a for a in {s.agent for s in runnable} if self._providers.choose(a, now) is None}
            decisions = plan_tick(
                runnable,
                dependency_statuses=view.dependency_statuses,
                targets=view.targets,
                loads=view.loads,
                live_sessions=view.live_workers,
                max_concurrent=self._max_concurrent,
                live_managers=view.live_managers,
                max_managers=self._max_managers,
                unavailable_agents=unavailable,
                target_agents={t.id: self._agents_on(t.id) for t in view.targets},
            )
            if not needs_more(view, decisions, max_concurrent=self._max_concurrent):
                break
            page = None if page is None or page * 4 > MAX_PAGE else page * 4
        by_id = {s.id: s for s in runnable}
        plan = _Plan()
        starts: list[tuple[Runnable, StartOn]] = []
        for decision in decisions:
            session = by_id[decision.session_id]
            match decision:
                case StartOn() as start:
                    if _lock_workspace(store, session):
                        starts.append((session, start))
                case AwaitCapacity(reason=reason):
                    if session.status is SessionStatus.QUEUED:
                        plan.waits.append((session.id, reason))
                case CancelForDependency(reason=reason):
                    plan.cancels.append((session.id, reason))
                case Hold():
                    pass
        if not starts:
            return plan
        placements = [Placement(session_id=s.id, target_id=start.target_id, slot=start.slot) for s, start in starts]
        claims = store.claim_placements(placements)
        targets = {t.id: t for t in view.targets}
        for (session, start), claim in zip(starts, claims, strict=True):
            if claim.granted:
                plan.starts.append((session, targets[start.target_id]))
            else:
                _release_workspace(store, session)
                if session.status is SessionStatus.QUEUED:
                    plan.waits.append((session.id, f"slot claim: {claim}"))
        return plan

    async def _place(self, session: Runnable, target: Target) -> None:
        """Tell the session it starts on ``target`` (its slot is held); canceled meanwhile: hand it back."""
        session_id = session.id
        try:
            if not await self._sessions.place(session_id, target):
                await self._db.run(lambda s: s.release_target_slot(session_id))
                await self._release_workspace(session)
                self.wake()  # its slot may start another
        finally:
            self._placing.discard(session_id)

    async def _release_workspace(self, session: Runnable) -> None:
        if session.workspace_id is not None:
            await self._db.run(lambda s: _release_workspace(s, session))


@attrs.define
class _Plan:
    """What a tick's store call decided: the sessions to tell to start (their slots are held), to tell to wait,
    and to cancel."""

    starts: list[tuple[Runnable, Target]] = attrs.Factory(list)
    waits: list[tuple[str, str]] = attrs.Factory(list)
    cancels: list[tuple[str, str]] = attrs.Factory(list)


def _lock_workspace(store: StorePort, session: Runnable) -> bool:
    """Take the workspace's writer lock, if the session has one; ``False`` when another session holds it
    (its end releases the lock and wakes us)."""
    return session.workspace_id is None or store.acquire_lock(LockKind.WORKSPACE, session.workspace_id, session.id)


def _release_workspace(store: StorePort, session: Runnable) -> None:
    if session.workspace_id is not None:
        with contextlib.suppress(OrchaError):
            store.release_lock(LockKind.WORKSPACE, session.workspace_id, session.id)
