"""The target actor: one per machine; drains, disables, enables and runs the doctor, one request at a time."""

from __future__ import annotations

from collections.abc import Callable

import attrs
import trio

from orcha.actors.deps import Announce
from orcha.actors.mailbox import Mailbox, answer
from orcha.actors.messages import Disable, Drain, Enable, RunDoctor, TargetMessage, Unreachable
from orcha.doctor import Bootstrap, Check, Doctor, DoctorReport
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
    redoctor_delays: tuple[float, ...] = (5.0, 15.0, 60.0, 300.0)
    """After the target became unreachable: seconds before each new doctor (the last one repeats)."""


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
        self._retries: int | None = None
        """Doctors run since the target became unreachable (``None``: it is not waiting to come back)."""
        self._nursery: trio.Nursery | None = None
        self._retry: trio.CancelScope | None = None
        """The pending re-doctor's scope (cancelled when the retries end)."""

    async def run(self) -> None:
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                await self._serve()
                nursery.cancel_scope.cancel()
        finally:
            self.mailbox.close()

    async def _serve(self) -> None:
        async for envelope in self.mailbox:
            match envelope.message:
                case Drain():
                    await answer(envelope, lambda: self._move(TargetStatus.DRAINING, "drained by the user"))
                case Disable():
                    self._stop_retrying()
                    await answer(envelope, lambda: self._move(TargetStatus.DISABLED, "disabled by the user"))
                case Enable():
                    await answer(envelope, self._enable)
                case RunDoctor(bootstrap=bootstrap):
                    await answer(envelope, lambda: self._doctor(bootstrap=bootstrap))
                case Unreachable(reason=reason):
                    await answer(envelope, lambda: self._unreachable(reason))

    async def _unreachable(self, reason: str) -> TargetReply | None:
        """Offline (a doctor must pass before it takes work again), and doctors on a backoff until one does."""
        target = await self._deps.db.run(lambda s: s.get_target(self.id))
        if target.status not in (TargetStatus.ONLINE, TargetStatus.DRAINING):
            return None  # not taking work anyway (a failing doctor says so itself)
        reply = await self._move(TargetStatus.OFFLINE, f"unreachable: {reason}")
        self._retries = 0
        self._redoctor_later()
        return reply

    def _redoctor_later(self) -> None:
        if self._retries is None or self._nursery is None:
            return
        delays = self._deps.redoctor_delays or (60.0,)
        delay = delays[min(self._retries, len(delays) - 1)]
        self._retries += 1

        scope = self._retry = trio.CancelScope()

        async def later() -> None:
            with scope:
                await trio.sleep(delay)
                self.mailbox.cast(RunDoctor())

        self._nursery.start_soon(later)

    def _stop_retrying(self) -> None:
        self._retries = None
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None

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
        if self._retries is not None:  # coming back after being unreachable: again later, or done
            if report.ok:
                self._stop_retrying()
            else:
                self._redoctor_later()
        if wanted is not target.status or (wanted is TargetStatus.OFFLINE and target.status_reason != reason):
            target = (await self._move(wanted, reason)).target
        return TargetReply(target=target, report=report)

    async def _examine(self, target: Target, *, bootstrap: bool) -> DoctorReport:
        """The doctor's report, after the bootstrap when asked for (a failed bootstrap is a failed check); each
        check is published as it finishes."""
        ran = None
        if bootstrap and target.bootstrap and self._deps.bootstrap is not None:
            ran = await self._deps.bootstrap(target)
            await self._checked(ran)
        report = await self._deps.doctor(target, on_check=self._checked)
        return report if ran is None else attrs.evolve(report, checks=(ran, *report.checks))

    async def _checked(self, check: Check) -> None:
        """One finished check, as a ``target_doctor_check`` event: a client following the event stream sees the
        doctor's progress while its request runs."""
        await self._deps.db.run(
            lambda s: s.record_event("target_doctor_check", target_id=self.id, **attrs.asdict(check))
        )
        self._deps.announce("target", self.id)
