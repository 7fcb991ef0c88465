"""Pure placement across targets: pins by name, labels, the agent CLI a doctor found, and why a session waits."""

from __future__ import annotations

import attrs

from orcha.model import Session, SessionRole, Target, TargetKind, TargetStatus
from orcha.scheduling import AwaitCapacity, StartOn, choose_target, plan_tick


def _target(tid: str, *, labels=(), status=TargetStatus.ONLINE, kind=TargetKind.SSH, reason=None) -> Target:
    return Target(
        id=tid, name=f"{tid}-box", kind=kind, host="h", work_root="/w", capacity_sessions=2, status=status,
        metadata={"labels": list(labels)}, status_reason=reason, created_at=0, updated_at=0,
    )  # fmt: skip


def _session(sid: str, **fields) -> Session:
    return Session(
        id=sid, objective_id="o", role=SessionRole.WORKER, agent="claude", prompt="p", created_at=0, updated_at=0,
        **fields,
    )  # fmt: skip


def _plan(sessions, targets, loads=None, agents=None):
    return plan_tick(
        sessions, dependency_statuses={}, targets=targets, loads=loads or {}, live_sessions=0, max_concurrent=9,
        target_agents=agents,
    )  # fmt: skip


def test_labels_pick_the_targets_that_have_every_one_of_them():
    targets = [_target("a", labels=["gpu"]), _target("b", labels=["gpu", "big"]), _target("c")]
    assert choose_target(targets, {}, labels=("gpu", "big"))[0].id == "b"
    assert choose_target(targets, {"a": 0, "b": 1}, labels=("gpu",))[0].id == "a"  # least loaded of the two
    assert choose_target(targets, {}, labels=("tpu",)) == (None, "no target has the labels tpu")


def test_only_targets_whose_doctor_found_the_agent_cli_take_its_sessions():
    targets = [_target("a"), _target("b"), _target("c")]
    agents = {"a": ("codex",), "b": ("claude", "codex"), "c": None}  # c: its doctor did not look
    assert choose_target(targets, {"b": 1, "c": 1}, agent="claude", target_agents=agents)[0].id == "b"
    assert choose_target(targets, {"b": 2, "c": 0}, agent="claude", target_agents=agents)[0].id == "c"
    only_a = {"a": ("codex",)}
    assert choose_target(targets[:1], {}, agent="claude", target_agents=only_a) == (
        None, "no online target has the claude CLI",
    )  # fmt: skip


def test_a_pinned_session_whose_target_is_offline_waits_and_says_why():
    offline = _target("a", status=TargetStatus.OFFLINE, reason="unreachable: connection refused")
    [decision] = _plan([_session("s", target_id="a")], [offline, _target("b")])
    assert decision == AwaitCapacity(
        session_id="s", reason="pinned target a-box is offline: unreachable: connection refused"
    )


def test_labels_are_asked_of_managers_too_and_a_pin_still_wins():
    manager = attrs.evolve(_session("m", labels=("big",)), role=SessionRole.MANAGER)
    worker = _session("w", labels=("gpu",), target_id="b")
    targets = [_target("a", labels=["big"]), _target("b", labels=["gpu"]), _target("l", kind=TargetKind.LOCAL)]
    decisions = _plan([manager, worker], targets)
    assert decisions == [StartOn(session_id="m", target_id="a", slot=False), StartOn(session_id="w", target_id="b")]
