"""The target actor: one per machine; drains, disables, enables and runs the doctor, one request at a time."""

from __future__ import annotations

from collections.abc import Callable

import attrs

from orcha.actors.deps import Announce
from orcha.actors.mailbox import Mailbox, answer
from orcha.actors.messages import Disable, Drain, Enable, RunDoctor, TargetMessage
from orcha.doctor import Bootstrap, Doctor, DoctorReport
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
    bootstrap: Bootstrap | None = None
    """Runs a target's bootstrap command on it (asked for at registration)."""


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
                    case RunDoctor(bootstrap=bootstrap):
                        await answer(envelope, lambda: self._doctor(bootstrap=bootstrap))
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

    async def _doctor(self, *, enabling: bool = False, bootstrap: bool = False) -> TargetReply:
        target = await self._deps.db.run(lambda s: s.get_target(self.id))
        report = await self._examine(target, bootstrap=bootstrap)  # outside any transaction
        if report.host_key and report.host_key != target.host_key:
            host_key = report.host_key
            target = await self._deps.db.run(lambda s: s.record_target_host_key(self.id, host_key))
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
        reason = "doctor passed" if report.ok else "doctor failed: " + "; ".join(report.missing)
        if wanted is not target.status or (wanted is TargetStatus.OFFLINE and target.status_reason != reason):
            target = (await self._move(wanted, reason)).target
        return TargetReply(target=target, report=report)

    async def _examine(self, target: Target, *, bootstrap: bool) -> DoctorReport:
        """The doctor's report, after the bootstrap when asked for (a failed bootstrap is a failed check)."""
        ran = None
        if bootstrap and target.bootstrap and self._deps.bootstrap is not None:
            ran = await self._deps.bootstrap(target)
        report = await self._deps.doctor(target)
        return report if ran is None else attrs.evolve(report, checks=(ran, *report.checks))
