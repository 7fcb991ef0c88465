"""The target actor publishes each finished check of a doctor as an event, while the doctor still runs."""

from __future__ import annotations

import trio

from orcha.actors.messages import RunDoctor
from orcha.actors.target import TargetActor, TargetDeps
from orcha.doctor import Check, CheckSink, DoctorReport, no_progress
from orcha.io.gateway import StoreGateway
from orcha.io.store import Store
from orcha.model import Target, TargetKind
from tests.actors.fakes import RecordingAnnounce, Wakes, wall_clock


class SteppedDoctor:
    """Tells of its first check, then waits for the test before it tells of the second and answers."""

    def __init__(self) -> None:
        self.go_on = trio.Event()
        self.checks = (Check(name="work_root", ok=True), Check(name="tmux", ok=False, detail="not installed"))

    async def __call__(self, target: Target, /, *, on_check: CheckSink = no_progress) -> DoctorReport:
        await on_check(self.checks[0])
        await self.go_on.wait()
        await on_check(self.checks[1])
        return DoctorReport(checks=self.checks)


async def test_each_check_is_an_event_before_the_doctor_answers(tmp_path, autojump_clock):
    store = Store(tmp_path / "orcha.db", clock=wall_clock)
    target = store.create_target(name="box", kind=TargetKind.LOCAL, work_root=str(tmp_path), capacity_sessions=1)
    doctor, announce = SteppedDoctor(), RecordingAnnounce()
    actor = TargetActor(
        TargetDeps(db=StoreGateway(store, inline=True), doctor=doctor, wake_scheduler=Wakes(), announce=announce),
        target.id,
    )

    def progress() -> list[dict]:
        return [e.data for e in store.events_after(0) if e.kind == "target_doctor_check" and e.target_id == target.id]

    replies = []
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(actor.run)

            async def ask() -> None:
                replies.append(await actor.mailbox.call(RunDoctor()))

            nursery.start_soon(ask)
            await trio.testing.wait_all_tasks_blocked()
            assert progress() == [{"name": "work_root", "ok": True, "detail": "", "required": True}]
            assert announce.calls == [("target", target.id)] and not replies  # the stream is woken
            doctor.go_on.set()
            await trio.testing.wait_all_tasks_blocked()
            assert [p["name"] for p in progress()] == ["work_root", "tmux"] and progress()[1]["ok"] is False
            [reply] = replies
            assert reply.report.checks == doctor.checks
            kinds = [e.kind for e in store.events_after(0) if e.target_id == target.id]
            assert kinds.index("target_doctor") > max(i for i, k in enumerate(kinds) if k == "target_doctor_check")
            nursery.cancel_scope.cancel()
    finally:
        store.close()
