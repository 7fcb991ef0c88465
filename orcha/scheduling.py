"""Scheduling decisions, pure: which runnable sessions start where, which wait, which are canceled.

The scheduler actor gathers a snapshot (runnable sessions, their dependencies' statuses, targets and their
loads, how many sessions are live, which agents are out of quota) and asks :func:`plan_tick`. Slot claims in
the store stay the source of truth: a planned start whose claim fails waits for capacity instead.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Protocol

import attrs

from orcha.model import SessionRole, SessionStatus, Target, TargetKind, TargetStatus

LIVE_STATUSES = frozenset(
    {SessionStatus.STARTING, SessionStatus.RUNNING, SessionStatus.WAITING_INPUT, SessionStatus.PAUSED}
)
"""Sessions that have a process (or are about to): live workers count against the global cap."""

RUNNABLE_STATUSES = (SessionStatus.QUEUED, SessionStatus.WAITING_CAPACITY)


class Schedulable(Protocol):
    """What a decision reads of a runnable session (a :class:`~orcha.model.Session` has it all)."""

    @property
    def id(self) -> str: ...
    @property
    def role(self) -> SessionRole: ...
    @property
    def agent(self) -> str: ...
    @property
    def status(self) -> SessionStatus: ...
    @property
    def target_id(self) -> str | None: ...
    @property
    def workspace_id(self) -> str | None: ...
    @property
    def labels(self) -> tuple[str, ...]: ...
    @property
    def depends_on(self) -> tuple[str, ...]: ...


@attrs.frozen(kw_only=True)
class Runnable:
    """A queued or waiting session as a tick sees it: only what it decides on (a tick reads every runnable
    session, so this is read instead of whole sessions)."""

    id: str
    role: SessionRole
    agent: str
    status: SessionStatus
    target_id: str | None = None
    workspace_id: str | None = None
    labels: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class SchedulingView:
    """What a tick decides on, read in one transaction (``Store.scheduling_view``)."""

    runnable: list[Runnable]
    """Queued and waiting sessions, oldest first."""
    dependency_statuses: dict[str, SessionStatus]
    """The status of each session a runnable one depends on."""
    targets: list[Target]
    loads: dict[str, int]
    """Claimed slots per target id."""
    live_workers: int
    live_managers: int
    left_out_after: int | None = None
    """Workers waiting for capacity were left out past the page asked for: the first of them comes after this
    many of ``runnable`` (``None``: none was left out; :func:`needs_more` says whether a tick needs them)."""


@attrs.frozen(kw_only=True)
class Placement:
    """A planned start to claim (``Store.claim_placements``): a worker's slot, or a manager's place."""

    session_id: str
    target_id: str
    slot: bool = True


@attrs.frozen(kw_only=True)
class StartOn:
    session_id: str
    target_id: str
    slot: bool = True
    """Workers hold one of the target's slots; managers take none (they mostly wait for their team)."""


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


def _online(
    targets: Iterable[Target],
    pinned: str | None,
    labels: Collection[str] = (),
    agent: str | None = None,
    target_agents: Mapping[str, Collection[str] | None] | None = None,
) -> tuple[list[Target], str]:
    """The online targets a session may go to (only the pinned one, if pinned; with every label asked for;
    whose doctor found the agent's CLI, where it looked), or none and why."""
    candidates = [t for t in targets if pinned is None or t.id == pinned]
    if pinned is not None and not candidates:
        return [], f"pinned target {pinned} does not exist"
    if labels:
        candidates = [t for t in candidates if set(labels) <= set(t.labels)]
        if not candidates:
            return [], f"no target has the labels {', '.join(sorted(labels))}"
    online = [t for t in candidates if t.status is TargetStatus.ONLINE]
    if not online:
        if pinned is not None:
            why = f": {candidates[0].status_reason}" if candidates[0].status_reason else ""
            return [], f"pinned target {candidates[0].name} is {candidates[0].status}{why}"
        return [], "no online target" + (f" with the labels {', '.join(sorted(labels))}" if labels else "")
    if agent is not None and target_agents:
        found = [t for t in online if (target_agents.get(t.id) is None or agent in (target_agents.get(t.id) or ()))]
        if not found:
            return [], f"no online target has the {agent} CLI"
        online = found
    return online, ""


def choose_target(
    targets: Iterable[Target],
    loads: Mapping[str, int],
    *,
    pinned: str | None = None,
    labels: Collection[str] = (),
    agent: str | None = None,
    target_agents: Mapping[str, Collection[str] | None] | None = None,
) -> tuple[Target | None, str]:
    """The pinned target if it can take a session, else the least-loaded online target with room, the
    ``labels`` asked for and (where its doctor looked) the ``agent``'s CLI.

    Returns the target (or ``None``) and, when none, why.
    """
    online, why = _online(targets, pinned, labels, agent, target_agents)
    if not online:
        return None, why
    with_room = [t for t in online if loads.get(t.id, 0) < t.capacity_sessions]
    if not with_room:
        return None, "every online target is at capacity"
    best = min(with_room, key=lambda t: (loads.get(t.id, 0) / max(t.capacity_sessions, 1), loads.get(t.id, 0), t.name))
    return best, ""


def choose_manager_target(
    targets: Iterable[Target],
    *,
    pinned: str | None = None,
    labels: Collection[str] = (),
    agent: str | None = None,
    target_agents: Mapping[str, Collection[str] | None] | None = None,
) -> tuple[Target | None, str]:
    """Where a manager runs: the pinned target if online, else an online local target, else any online one.

    Managers take no slot, so capacity does not matter; draining or offline targets take none.
    """
    online, why = _online(targets, pinned, labels, agent, target_agents)
    if not online:
        return None, why
    return min(online, key=lambda t: (t.kind is not TargetKind.LOCAL, t.name)), ""


def plan_tick(
    runnable: Iterable[Schedulable],
    *,
    dependency_statuses: Mapping[str, SessionStatus],
    targets: Collection[Target],
    loads: Mapping[str, int],
    live_sessions: int,
    max_concurrent: int,
    live_managers: int = 0,
    max_managers: int = 8,
    unavailable_agents: Collection[str] = (),
    target_agents: Mapping[str, Collection[str] | None] | None = None,
) -> list[Decision]:
    """Decide, oldest first, what happens to each runnable session this tick.

    The capacity model cannot deadlock: workers hold the targets' slots and count against ``max_concurrent``
    (``live_sessions`` is the live workers); managers, which spend most of their life waiting for their team,
    hold no slot and have a cap of their own (``max_managers``). A waiting manager never keeps a worker out.
    """
    planned_loads = dict(loads)
    live = live_sessions
    managers = live_managers
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
        if session.role is SessionRole.MANAGER:
            if managers >= max_managers:
                decisions.append(AwaitCapacity(session_id=session.id, reason=f"cap of {max_managers} managers reached"))
                continue
            target, why = choose_manager_target(
                targets, pinned=session.target_id, labels=session.labels, agent=session.agent,
                target_agents=target_agents,
            )  # fmt: skip
            if target is None:
                decisions.append(AwaitCapacity(session_id=session.id, reason=why))
                continue
            managers += 1
            decisions.append(StartOn(session_id=session.id, target_id=target.id, slot=False))
            continue
        if live >= max_concurrent:
            decisions.append(AwaitCapacity(session_id=session.id, reason=f"global cap of {max_concurrent} reached"))
            continue
        target, why = choose_target(
            targets, planned_loads, pinned=session.target_id, labels=session.labels, agent=session.agent,
            target_agents=target_agents,
        )  # fmt: skip
        if target is None:
            decisions.append(AwaitCapacity(session_id=session.id, reason=why))
            continue
        planned_loads[target.id] = planned_loads.get(target.id, 0) + 1
        live += 1
        decisions.append(StartOn(session_id=session.id, target_id=target.id))
    return decisions


def without_placing(view: SchedulingView, placing: Collection[str]) -> SchedulingView:
    """``view`` as a tick must plan on it while the sessions in ``placing`` are being told to start (their
    slots are claimed; each still reads as runnable until its actor's move is stored): they are not runnable
    again, and each counts as live (a worker against the global cap, a manager against the managers')."""
    held = [s for s in view.runnable if s.id in placing]
    if not held:
        return view
    left_out_after = view.left_out_after
    if left_out_after is not None:
        left_out_after -= sum(1 for s in view.runnable[:left_out_after] if s.id in placing)
    workers = sum(1 for s in held if s.role is SessionRole.WORKER)
    return attrs.evolve(
        view,
        runnable=[s for s in view.runnable if s.id not in placing],
        live_workers=view.live_workers + workers,
        live_managers=view.live_managers + len(held) - workers,
        left_out_after=left_out_after,
    )


def needs_more(view: SchedulingView, decisions: Iterable[Decision], *, max_concurrent: int) -> bool:
    """Whether a tick planned on a paged ``view`` must read the workers left out and plan again: when one of
    them could have started, i.e. a worker younger than the first left out was to start, or room is left
    (under the global cap, an online target with a free slot). Otherwise the plan is the one the whole queue
    would give: a worker waiting for capacity was told why already, and its dependencies had all completed,
    so for it any decision but a start changes nothing."""
    if view.left_out_after is None:
        return False
    position = {s.id: n for n, s in enumerate(view.runnable)}
    loads = dict(view.loads)
    live = view.live_workers
    for decision in decisions:
        if isinstance(decision, StartOn) and decision.slot:
            if position[decision.session_id] >= view.left_out_after:
                return True
            live += 1
            loads[decision.target_id] = loads.get(decision.target_id, 0) + 1
    if live >= max_concurrent:
        return False
    return any(t.status is TargetStatus.ONLINE and loads.get(t.id, 0) < t.capacity_sessions for t in view.targets)
