"""A target's doctor report: which checks passed, and what is missing for it to take sessions.

Shared by the target actor (which decides the target's status from it) and the edges that run the checks
(``orcha.io.doctor`` locally, an SSH doctor remotely).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

import attrs
import trio

from orcha.errors import OrchaError
from orcha.executor import Executor
from orcha.model import Target, TargetKind

_log = logging.getLogger(__name__)


@attrs.frozen(kw_only=True)
class Check:
    name: str
    ok: bool
    detail: str = ""
    required: bool = True


@attrs.frozen(kw_only=True)
class DoctorReport:
    checks: tuple[Check, ...]
    host_key: str | None = None
    """For an SSH target: the SHA256 fingerprint of the host key its connection was verified with."""
    agents: tuple[str, ...] | None = None
    """The agent names this target can run: those whose CLI the doctor found and that answered ``--version``,
    and those that need no CLI of their own (the fakes, the shell). ``None``: the doctor did not look (a test
    doctor, a target kind without agent checks), so no agent is ruled out by it."""

    def can_run(self, agent: str) -> bool:
        """Whether the doctor found what ``agent`` needs (always ``True`` when it did not look)."""
        return self.agents is None or agent in self.agents

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks if c.required)

    @property
    def missing(self) -> list[str]:
        return [f"{c.name}: {c.detail}" if c.detail else c.name for c in self.checks if c.required and not c.ok]


CheckSink = Callable[[Check], Awaitable[None]]
"""Told of each check as soon as it has finished: a doctor's progress (the target actor publishes it)."""


async def no_progress(check: Check) -> None:
    """The default :data:`CheckSink`: nobody is watching."""


class Doctor(Protocol):
    """Runs a target's checks (outside any transaction), telling ``on_check`` of each as it finishes, and
    returns the whole report."""

    async def __call__(self, target: Target, /, *, on_check: CheckSink = no_progress) -> DoctorReport: ...


Bootstrap = Callable[[Target], Awaitable[Check]]
"""Runs a target's ``bootstrap`` command on it (outside any transaction): a check named ``bootstrap``."""

BOOTSTRAP_SECONDS = 600.0
"""How long a target's bootstrap may take before it is stopped (and the check fails)."""
_TAIL = 300


def doctor_by_kind(doctors: Mapping[TargetKind, Doctor]) -> Doctor:
    """One doctor that hands each target to the doctor of its kind (a failing report for a kind without one).

    An unexpected exception from that doctor becomes a failed ``doctor`` check with its message (after the
    checks already told), so the target goes offline with a reason instead of the request failing."""

    async def doctor(target: Target, /, *, on_check: CheckSink = no_progress) -> DoctorReport:
        chosen = doctors.get(target.kind)
        if chosen is None:
            detail = f"targets of kind {target.kind} are not supported by this build"
            check = Check(name=str(target.kind), ok=False, detail=detail)
            await on_check(check)
            return DoctorReport(checks=(check,), agents=())
        seen: list[Check] = []

        async def told(check: Check) -> None:
            seen.append(check)
            await on_check(check)

        try:
            return await chosen(target, on_check=told)
        except Exception as exc:  # a bug or an unforeseen library error: a failed check, never a failed request
            _log.exception("the doctor of target %s failed unexpectedly", target.name)
            failed = Check(name="doctor", ok=False, detail=f"unexpected error: {type(exc).__name__}: {exc}"[:_TAIL])
            await on_check(failed)
            return DoctorReport(checks=(*seen, failed), agents=())

    return doctor


async def run_bootstrap(executor: Executor, target: Target, *, limit: float = BOOTSTRAP_SECONDS) -> Check:
    """Run ``target.bootstrap`` (a shell command the user wrote) with ``sh -c`` on the target, in its home
    folder, for at most ``limit`` seconds; a passing check when there is none."""
    script = target.bootstrap
    if not script:
        return Check(name="bootstrap", ok=True, detail="none", required=False)
    result = None
    try:
        with trio.move_on_after(limit):
            result = await executor.run(["sh", "-c", script])
    except OrchaError as exc:
        return Check(name="bootstrap", ok=False, detail=f"cannot run it: {exc}"[:_TAIL])
    if result is None:
        return Check(name="bootstrap", ok=False, detail=f"still running after {limit:g}s: stopped")
    if not result.ok:
        tail = " ".join((result.stderr or result.stdout).strip().splitlines()[-3:])
        return Check(name="bootstrap", ok=False, detail=f"exited {result.exit_code}: {tail}"[:_TAIL])
    return Check(name="bootstrap", ok=True, detail="ran")
