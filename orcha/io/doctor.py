"""The doctor of a local target: a writable work root, and which tools and agent CLIs are installed."""

from __future__ import annotations

import os
import shutil

import trio

from orcha.actors.target import Check, DoctorReport
from orcha.model import Target, TargetKind


def _local_checks(target: Target, fake_agents: bool) -> DoctorReport:
    checks = []
    try:
        os.makedirs(target.work_root, exist_ok=True)
        writable = os.access(target.work_root, os.W_OK)
        checks.append(
            Check(name="work_root", ok=writable, detail="" if writable else f"{target.work_root} is not writable")
        )
    except OSError as exc:
        checks.append(Check(name="work_root", ok=False, detail=f"cannot create {target.work_root}: {exc.strerror}"))
    for tool in ("git", "tmux"):
        found = shutil.which(tool)
        checks.append(Check(name=tool, ok=found is not None, detail=found or "not installed", required=not fake_agents))
    agents = [a for a in ("claude", "codex") if shutil.which(a)]
    checks.append(
        Check(
            name="agent CLI",
            ok=bool(agents) or fake_agents,
            detail=", ".join(agents)
            if agents
            else ("fake agents" if fake_agents else "neither claude nor codex found"),
        )
    )
    checks.append(Check(name="gh", ok=shutil.which("gh") is not None, detail="informational", required=False))
    return DoctorReport(checks=tuple(checks))


def local_doctor(*, fake_agents: bool):  # type: ignore[no-untyped-def]
    """A doctor for targets of this machine; SSH targets fail it until the SSH executor exists."""

    async def doctor(target: Target) -> DoctorReport:
        if target.kind is TargetKind.SSH:
            return DoctorReport(
                checks=(Check(name="ssh", ok=False, detail="SSH targets are not supported by this build yet"),)
            )
        return await trio.to_thread.run_sync(_local_checks, target, fake_agents)

    return doctor
