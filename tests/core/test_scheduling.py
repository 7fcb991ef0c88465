"""Pure scheduling decisions: dependencies, the global cap, placement, exhausted agents."""

from __future__ import annotations

from orcha.model import Session, SessionRole, SessionStatus, Target, TargetKind, TargetStatus
from orcha.scheduling import AwaitCapacity, CancelForDependency, Hold, StartOn, choose_target, plan_tick

S = SessionStatus


def _session(sid: str, *, depends_on=(), target_id=None, agent="claude") -> Session:
    return Session(
        id=sid,
        objective_id="o",
        role=SessionRole.WORKER,
        agent=agent,
        prompt="p",
        depends_on=depends_on,
        target_id=target_id,
        created_at=0,
        updated_at=0,
    )


def _target(tid: str, capacity: int, status=TargetStatus.ONLINE) -> Target:
    return Target(
        id=tid,
        name=tid,
        kind=TargetKind.LOCAL,
        work_root="/w",
        capacity_sessions=capacity,
        status=status,
        created_at=0,
        updated_at=0,
    )


def test_least_loaded_online_target_with_room_is_chosen():
    targets = [_target("a", 4), _target("b", 2), _target("c", 8, TargetStatus.DRAINING)]
    chosen, _ = choose_target(targets, {"a": 2, "b": 0, "c": 0})
    assert chosen.id == "b"
    chosen, _ = choose_target(targets, {"a": 1, "b": 1})
    assert chosen.id == "a"  # 1/4 < 1/2
    chosen, why = choose_target(targets, {"a": 4, "b": 2})
    assert chosen is None and "capacity" in why


def test_a_pinned_target_comes_first_and_is_never_swapped():
    targets = [_target("a", 4), _target("b", 4, TargetStatus.DRAINING)]
    chosen, _ = choose_target(targets, {"a": 3}, pinned="a")
    assert chosen.id == "a"
    chosen, why = choose_target(targets, {}, pinned="b")
    assert chosen is None and "draining" in why


def test_plan_respects_dependencies_cap_capacity_and_quota():
    runnable = [
        _session("dep-failed", depends_on=("x",)),
        _session("dep-running", depends_on=("y",)),
        _session("ready-1", depends_on=("z",)),
        _session("exhausted", agent="codex"),
        _session("ready-2"),
        _session("ready-3"),
        _session("over-cap"),
    ]
    decisions = plan_tick(
        runnable,
        dependency_statuses={"x": S.FAILED, "y": S.RUNNING, "z": S.COMPLETED},
        targets=[_target("a", 2), _target("b", 1)],
        loads={},
        live_sessions=1,
        max_concurrent=4,
        unavailable_agents={"codex"},
    )
    by_id = {d.session_id: d for d in decisions}
    assert isinstance(by_id["dep-failed"], CancelForDependency) and "x" in by_id["dep-failed"].reason
    assert isinstance(by_id["dep-running"], Hold)
    assert isinstance(by_id["exhausted"], Hold)
    starts = [d for d in decisions if isinstance(d, StartOn)]
    assert [(d.session_id, d.target_id) for d in starts] == [("ready-1", "a"), ("ready-2", "b"), ("ready-3", "a")]
    assert isinstance(by_id["over-cap"], AwaitCapacity) and "global cap" in by_id["over-cap"].reason


def test_a_missing_dependency_cancels():
    [decision] = plan_tick(
        [_session("s", depends_on=("gone",))],
        dependency_statuses={},
        targets=[],
        loads={},
        live_sessions=0,
        max_concurrent=1,
    )
    assert isinstance(decision, CancelForDependency)
