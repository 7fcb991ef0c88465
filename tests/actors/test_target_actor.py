"""The target actor alone: a fake doctor, a recording announce, the real store."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import attrs
import pytest
import trio

from orcha.actors.mailbox import ActorGone
from orcha.actors.messages import Disable, Drain, Enable, RunDoctor
from orcha.actors.target import TargetActor, TargetDeps
from orcha.doctor import Check, DoctorReport
from orcha.errors import InvalidTransitionError
from orcha.io.gateway import StoreGateway
from orcha.io.store import Store
from orcha.model import Target, TargetKind, TargetStatus
from tests.actors.fakes import FakeDoctor, RecordingAnnounce, Wakes, wall_clock

T = TargetStatus


@attrs.define
class Rig:
    store: Store
    target: Target
    actor: TargetActor
    doctor: FakeDoctor
    announce: RecordingAnnounce
    wakes: Wakes

    def status(self) -> TargetStatus:
        return self.store.get_target(self.target.id).status

    def doctor_events(self) -> list[dict]:
        return [e.data for e in self.store.events_after(0) if e.kind == "target_doctor"]


@contextlib.asynccontextmanager
async def a_target(tmp_path, status: TargetStatus = T.ONLINE) -> AsyncIterator[Rig]:
    store = Store(tmp_path / "orcha.db", clock=wall_clock)
    target = store.create_target(
        name="box", kind=TargetKind.LOCAL, work_root=str(tmp_path), capacity_sessions=2, status=status
    )
    doctor, announce, wakes = FakeDoctor(), RecordingAnnounce(), Wakes()
    actor = TargetActor(
        TargetDeps(db=StoreGateway(store, inline=True), doctor=doctor, wake_scheduler=wakes, announce=announce),
        target.id,
    )
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(actor.run)
            yield Rig(store, target, actor, doctor, announce, wakes)
            nursery.cancel_scope.cancel()
    finally:
        store.close()


async def test_drain_then_enable_goes_back_online_without_a_doctor(tmp_path, autojump_clock):
    async with a_target(tmp_path) as rig:
        reply = await rig.actor.mailbox.call(Drain())
        assert reply.target.status is T.DRAINING and rig.status() is T.DRAINING and reply.report is None
        assert rig.announce.calls == [("target", rig.target.id)] and rig.wakes.count == 1
        reply = await rig.actor.mailbox.call(Enable())
        assert reply.target.status is T.ONLINE and reply.report is None
        assert rig.doctor.examined == []  # a drained target is healthy: enabling it needs no checks
        assert rig.wakes.count == 2


async def test_enabling_a_disabled_target_runs_its_doctor(tmp_path, autojump_clock):
    async with a_target(tmp_path) as rig:
        assert (await rig.actor.mailbox.call(Disable())).target.status is T.DISABLED
        rig.doctor.fail("git", "not installed")
        reply = await rig.actor.mailbox.call(Enable())
        assert reply.target.status is T.OFFLINE and reply.report is not None and not reply.report.ok
        assert rig.doctor.examined == [(rig.target.id, T.DISABLED)]
        assert [e["ok"] for e in rig.doctor_events()] == [False]
        [moved] = [e for e in rig.store.events_after(0) if e.kind == "target_status" and e.data["new"] == "offline"]
        assert moved.data["reason"] == "doctor failed: git: not installed"
        rig.doctor.report = attrs.evolve(rig.doctor.report, checks=(Check(name="git", ok=True),))
        reply = await rig.actor.mailbox.call(RunDoctor())
        assert reply.target.status is T.ONLINE and rig.status() is T.ONLINE  # a passing doctor brings it back


async def test_a_failing_doctor_takes_an_online_target_offline_and_a_passing_one_changes_nothing(
    tmp_path, autojump_clock
):
    async with a_target(tmp_path) as rig:
        reply = await rig.actor.mailbox.call(RunDoctor())
        assert reply.target.status is T.ONLINE and reply.report is not None and reply.report.ok
        assert rig.wakes.count == 0  # nothing moved
        assert rig.announce.calls == [("target", rig.target.id)]  # only its one check's progress
        rig.doctor.fail("work_root", "missing")
        reply = await rig.actor.mailbox.call(RunDoctor())
        assert reply.target.status is T.OFFLINE and rig.announce.calls == [("target", rig.target.id)] * 3
        assert [e["ok"] for e in rig.doctor_events()] == [True, False]


async def test_a_refused_move_reaches_the_caller_and_the_actor_goes_on(tmp_path, autojump_clock):
    async with a_target(tmp_path, status=T.OFFLINE) as rig:
        with pytest.raises(InvalidTransitionError):
            await rig.actor.mailbox.call(Drain())  # offline → draining is not a move
        assert rig.status() is T.OFFLINE
        assert (await rig.actor.mailbox.call(Disable())).target.status is T.DISABLED


async def test_calls_to_a_stopped_target_actor_fail_at_once(tmp_path, autojump_clock):
    async with a_target(tmp_path) as rig:
        rig.actor.mailbox.close()  # as when its supervisor stops it
        start = trio.current_time()
        with pytest.raises(ActorGone):
            await rig.actor.mailbox.call(Drain())
        assert trio.current_time() == start and rig.status() is T.ONLINE


async def test_an_unreachable_target_goes_offline_and_is_re_doctored_on_a_backoff_until_one_passes(
    tmp_path, autojump_clock
):
    from orcha.actors.messages import Unreachable

    async with a_target(tmp_path) as rig:
        rig.doctor.fail("connection", "refused")
        await rig.actor.mailbox.call(Unreachable(reason="cannot connect to box: refused"))
        target = rig.store.get_target(rig.target.id)
        assert target.status is T.OFFLINE and target.status_reason == "unreachable: cannot connect to box: refused"
        start = trio.current_time()
        while len(rig.doctor.examined) < 2:  # noqa: ASYNC110 - doctors at 5 s, then 15 s more
            await trio.sleep(0.5)
        assert trio.current_time() - start == pytest.approx(20.5, abs=0.6)
        assert rig.status() is T.OFFLINE and "connection: refused" in rig.store.get_target(rig.target.id).status_reason
        rig.doctor.report = DoctorReport(checks=(Check(name="connection", ok=True),))
        while rig.status() is not T.ONLINE:  # noqa: ASYNC110 - the virtual clock runs on
            await trio.sleep(0.5)
        assert len(rig.doctor.examined) == 3 and trio.current_time() - start == pytest.approx(80.5, abs=0.6)
        await trio.sleep(1000)
        assert len(rig.doctor.examined) == 3  # back online: no more doctors
        assert (await rig.actor.mailbox.call(Unreachable(reason="x"))).target.status is T.OFFLINE
        await rig.actor.mailbox.call(Disable())  # the user's choice ends the retries
        await trio.sleep(1000)
        assert len(rig.doctor.examined) == 3 and rig.status() is T.DISABLED
