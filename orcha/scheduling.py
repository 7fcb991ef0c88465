"""Scheduling decisions, pure: which runnable sessions start where, which wait, which are canceled.

The scheduler actor gathers a snapshot (runnable sessions, their dependencies' statuses, targets and their
loads, how many sessions are live, which agents are out of quota) and asks :func:`plan_tick`. Slot claims in
the store stay the source of truth: a planned start whose claim fails waits for capacity instead.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

import attrs

from orcha.model import Session, SessionStatus, Target, TargetStatus

LIVE_STATUSES = frozenset(
    {SessionStatus.STARTING, SessionStatus.RUNNING, SessionStatus.WAITING_INPUT, SessionStatus.PAUSED}
)
"""Sessions that have an actor and count against the global concurrency cap."""

RUNNABLE_STATUSES = (SessionStatus.QUEUED, SessionStatus.WAITING_CAPACITY)


@attrs.frozen(kw_only=True)
class StartOn:
    session_id: str
    target_id: str


@attrs.frozen(kw_only=True)
class AwaitCapacity:
    session_id: str
    reason: str


@attrs.frozen(kw_only=True)
class CancelForDependency:
    session_id: str
    reason: str


@attrs.frozen(kw_only=True)
class Hold:
    session_id: str
    reason: str


Decision = StartOn | AwaitCapacity | CancelForDependency | Hold


def choose_target(
    targets: Iterable[Target], loads: Mapping[str, int], *, pinned: str | None = None
) -> tuple[Target | None, str]:
    """The pinned target if it can take a session, else the least-loaded online target with room.

    Returns the target (or ``None``) and, when none, why.
    """
    candidates = [t for t in targets if pinned is None or t.id == pinned]
    if pinned is not None and not candidates:
        return None, f"pinned target {pinned} does not exist"
    online = [t for t in candidates if t.status is TargetStatus.ONLINE]
    if not online:
        return None, "no online target" if pinned is None else f"pinned target is {candidates[0].status}"
    with_room = [t for t in online if loads.get(t.id, 0) < t.capacity_sessions]
    if not with_room:
        return None, "every online target is at capacity"
    best = min(with_room, key=lambda t: (loads.get(t.id, 0) / max(t.capacity_sessions, 1), loads.get(t.id, 0), t.name))
    return best, ""


def plan_tick(
    runnable: Iterable[Session],
    *,
    dependency_statuses: Mapping[str, SessionStatus],
    targets: Collection[Target],
    loads: Mapping[str, int],
    live_sessions: int,
    max_concurrent: int,
    unavailable_agents: Collection[str] = (),
) -> list[Decision]:
    """Decide, oldest first, what happens to each runnable session this tick."""
    planned_loads = dict(loads)
    live = live_sessions
    decisions: list[Decision] = []
    for session in runnable:
        deps = [dependency_statuses.get(d) for d in session.depends_on]
        broken = [
            d
            for d, st in zip(session.depends_on, deps, strict=True)
            if st in (SessionStatus.FAILED, SessionStatus.CANCELED) or st is None
        ]
        if broken:
            decisions.append(
                CancelForDependency(session_id=session.id, reason=f"dependency {broken[0]} did not complete")
            )
            continue
        if any(st is not SessionStatus.COMPLETED for st in deps):
            decisions.append(Hold(session_id=session.id, reason="waiting for dependencies"))
            continue
        if session.agent in unavailable_agents:
            decisions.append(Hold(session_id=session.id, reason=f"{session.agent} is out of quota"))
            continue
        if live >= max_concurrent:
            decisions.append(AwaitCapacity(session_id=session.id, reason=f"global cap of {max_concurrent} reached"))
            continue
        target, why = choose_target(targets, planned_loads, pinned=session.target_id)
        if target is None:
            decisions.append(AwaitCapacity(session_id=session.id, reason=why))
            continue
        planned_loads[target.id] = planned_loads.get(target.id, 0) + 1
        live += 1
        decisions.append(StartOn(session_id=session.id, target_id=target.id))
    return decisions
