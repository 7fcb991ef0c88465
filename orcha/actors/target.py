"""The target actor: one per machine; drains, disables, enables and runs the doctor, one request at a time."""

from __future__ import annotations

from collections.abc import Callable

import attrs

from orcha.actors.deps import Announce
from orcha.actors.mailbox import Mailbox, answer
from orcha.actors.messages import Disable, Drain, Enable, RunDoctor, TargetMessage
from orcha.doctor import Doctor, DoctorReport
from orcha.model import Target, TargetStatus
from orcha.ports import Db


@attrs.frozen(kw_only=True)
class TargetDeps:
    db: Db
    doctor: Doctor
    wake_scheduler: Callable[[], None]
    announce: Announce
    record_agents: Callable[[str, tuple[str, ...] | None], None] = lambda _target, _agents: None
    """Tell sessions which agent CLIs the doctor found on this target."""


@attrs.frozen(kw_only=True)
class TargetReply:
    target: Target
    report: DoctorReport | None = None


class TargetActor:
    """The one writer of a target's status."""

    def __init__(self, deps: TargetDeps, target_id: str) -> None:
        self.id = target_id
        self.name = f"target:{target_id}"
        self.mailbox: Mailbox[TargetMessage] = Mailbox(self.name)
        self._deps = deps

    async def run(self) -> None:
        try:
            async for envelope in self.mailbox:
                match envelope.message:
                    case Drain():
                        await answer(envelope, lambda: self._move(TargetStatus.DRAINING, "drained by the user"))
                    case Disable():
                        await answer(envelope, lambda: self._move(TargetStatus.DISABLED, "disabled by the user"))
                    case Enable():
                        await answer(envelope, self._enable)
                    case RunDoctor():
                        await answer(envelope, self._doctor)
        finally:
            self.mailbox.close()

    async def _move(self, status: TargetStatus, reason: str) -> TargetReply:
        target = await self._deps.db.run(lambda s: s.set_target_status(self.id, status, reason=reason))
        self._deps.wake_scheduler()
        self._deps.announce("target", self.id)
        return TargetReply(target=target)

    async def _enable(self) -> TargetReply:
        current = await self._deps.db.run(lambda s: s.get_target(self.id))
        if current.status is TargetStatus.DRAINING:
            return await self._move(TargetStatus.ONLINE, "enabled by the user")
        return await self._doctor(enabling=True)

    async def _doctor(self, *, enabling: bool = False) -> TargetReply:
        target = await self._deps.db.run(lambda s: s.get_target(self.id))
        report = await self._deps.doctor(target)  # outside any transaction
        self._deps.record_agents(self.id, report.agents)
        found = list(report.agents) if report.agents is not None else None
        await self._deps.db.run(
            lambda s: s.record_event(
                "target_doctor",
                target_id=self.id,
                ok=report.ok,
                checks=[attrs.asdict(c) for c in report.checks],
                agents=found,
            )
        )
        wanted = target.status
        if report.ok and (target.status is TargetStatus.OFFLINE or enabling):
            wanted = TargetStatus.ONLINE
        elif not report.ok and (target.status in (TargetStatus.ONLINE, TargetStatus.DRAINING) or enabling):
            wanted = TargetStatus.OFFLINE
        if wanted is not target.status:
            reason = "doctor passed" if report.ok else "doctor failed: " + "; ".join(report.missing)
            target = (await self._move(wanted, reason)).target
        return TargetReply(target=target, report=report)
