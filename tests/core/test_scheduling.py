"""Pure scheduling decisions: dependencies, the global cap, placement, exhausted agents."""

from __future__ import annotations

import attrs

from orcha.model import Session, SessionRole, SessionStatus, Target, TargetKind, TargetStatus
from orcha.scheduling import AwaitCapacity, CancelForDependency, Hold, StartOn, choose_target, plan_tick

S = SessionStatus


def _session(sid: str, *, depends_on=(), target_id=None, agent="claude", role=SessionRole.WORKER) -> Session:
    return Session(
        id=sid,
        objective_id="o",
        role=role,
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


def test_managers_take_no_slot_so_waiting_managers_never_starve_workers():
    """Four objectives on a full target: the managers still start (no slot), and the workers take the slots."""
    managers = [_session(f"m{n}", role=SessionRole.MANAGER) for n in range(4)]
    workers = [_session(f"w{n}") for n in range(6)]
    decisions = plan_tick(
        [*managers, *workers],
        dependency_statuses={},
        targets=[_target("local", 4)],
        loads={},
        live_sessions=0,
        max_concurrent=8,
    )
    starts = [d for d in decisions if isinstance(d, StartOn)]
    assert [d.session_id for d in starts if not d.slot] == ["m0", "m1", "m2", "m3"]
    assert [d.session_id for d in starts if d.slot] == ["w0", "w1", "w2", "w3"]  # the four worker slots
    assert [d.session_id for d in decisions if isinstance(d, AwaitCapacity)] == ["w4", "w5"]


def test_live_managers_count_against_their_own_cap_only():
    decisions = plan_tick(
        [_session("m", role=SessionRole.MANAGER), _session("w")],
        dependency_statuses={},
        targets=[_target("local", 1)],
        loads={},
        live_sessions=0,
        max_concurrent=1,
        live_managers=2,
        max_managers=2,
    )
    assert decisions[0] == AwaitCapacity(session_id="m", reason="cap of 2 managers reached")
    assert decisions[1] == StartOn(session_id="w", target_id="local")


def test_a_manager_goes_to_an_online_target_never_a_draining_one():
    targets = [_target("a", 0, TargetStatus.DRAINING), _target("b", 0)]
    [decision] = plan_tick(
        [_session("m", role=SessionRole.MANAGER)],
        dependency_statuses={},
        targets=targets,
        loads={},
        live_sessions=0,
        max_concurrent=8,
    )
    assert decision == StartOn(session_id="m", target_id="b", slot=False)
    [waits] = plan_tick(
        [_session("m", role=SessionRole.MANAGER)],
        dependency_statuses={},
        targets=targets[:1],
        loads={},
        live_sessions=0,
        max_concurrent=8,
    )
    assert isinstance(waits, AwaitCapacity) and "no online target" in waits.reason


def test_a_paged_plan_needs_more_only_when_a_left_out_worker_could_have_started():
    from orcha.scheduling import Runnable, SchedulingView, needs_more

    def view(live: int, left_out_after: int | None) -> SchedulingView:
        runnable = [Runnable(id=f"w{n}", role=SessionRole.WORKER, agent="claude", status=S.QUEUED) for n in range(3)]
        return SchedulingView(
            runnable=runnable,
            dependency_statuses={},
            targets=[_target("a", 10), _target("b", 10, TargetStatus.DRAINING)],
            loads={"a": live},
            live_workers=live,
            live_managers=0,
            left_out_after=left_out_after,
        )

    start = [StartOn(session_id="w0", target_id="a")]
    assert not needs_more(view(4, None), [], max_concurrent=5)  # nothing left out
    assert not needs_more(view(4, 2), start, max_concurrent=5)  # the cap is reached after w0 starts
    assert needs_more(view(3, 2), start, max_concurrent=5)  # room is left: a left-out one could start
    assert needs_more(view(0, 1), [StartOn(session_id="w2", target_id="a")], max_concurrent=2)  # past the page
    manager = [StartOn(session_id="w2", target_id="a", slot=False)]  # a manager takes no slot
    assert not needs_more(view(5, 1), manager, max_concurrent=5)
    full = view(4, 2)
    full_targets = attrs.evolve(full, loads={"a": 10})
    assert not needs_more(full_targets, [], max_concurrent=50)  # no online target has room


def test_sessions_being_placed_are_not_runnable_again_and_count_as_live():
    from orcha.scheduling import Runnable, SchedulingView, without_placing

    worker, manager = SessionRole.WORKER, SessionRole.MANAGER
    roles = {"w0": worker, "m1": manager, "w2": worker, "w3": worker, "w4": worker}
    view = SchedulingView(
        runnable=[Runnable(id=sid, role=role, agent="claude", status=S.QUEUED) for sid, role in roles.items()],
        dependency_statuses={},
        targets=[_target("a", 10)],
        loads={"a": 3},
        live_workers=1,
        live_managers=2,
        left_out_after=4,
    )
    assert without_placing(view, set()) is view
    assert without_placing(view, {"gone"}) is view  # one that answered meanwhile is read as started already
    held = without_placing(view, {"w0", "m1", "w4", "gone"})
    assert [s.id for s in held.runnable] == ["w2", "w3"]
    assert (held.live_workers, held.live_managers) == (3, 3)  # w0, w4 against the cap; m1 against the managers'
    assert held.left_out_after == 2  # w0 and m1 came before the first left out; w4 after it
    assert held.loads == view.loads  # their slots are claimed in the store already


def test_the_global_cap_holds_while_placements_are_being_answered():
    """A tick planned while workers it placed have not answered yet starts no more than the cap allows."""
    from orcha.scheduling import Runnable, SchedulingView, without_placing

    runnable = [Runnable(id=f"w{n}", role=SessionRole.WORKER, agent="claude", status=S.QUEUED) for n in range(4)]
    view = SchedulingView(
        runnable=runnable,
        dependency_statuses={},
        targets=[_target("a", 10)],
        loads={"a": 2},
        live_workers=0,
        live_managers=0,
    )
    held = without_placing(view, {"w0", "w1"})
    decisions = plan_tick(
        held.runnable,
        dependency_statuses={},
        targets=held.targets,
        loads=held.loads,
        live_sessions=held.live_workers,
        max_concurrent=3,
    )
    starts = [d.session_id for d in decisions if isinstance(d, StartOn)]
    assert starts == ["w2"]  # two being placed + one: the cap of three
