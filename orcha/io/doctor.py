"""The doctor of a local target: a writable work root, and which tools and agent CLIs are installed."""

from __future__ import annotations

import os
import shutil
import stat

import trio

from orcha.doctor import Check, DoctorReport
from orcha.io.private import PrivatePathError, ensure_private_dir
from orcha.model import Target, TargetKind


def work_root_check(work_root: str) -> Check:
    """The work root exists (created 0700 when missing), is a folder of the user's, closed to writers other
    than the user, and writable: nobody else can plant files or links in the checkouts."""
    try:
        if not os.path.lexists(work_root):
            ensure_private_dir(work_root)
        info = os.stat(work_root)
    except PrivatePathError as exc:
        return Check(name="work_root", ok=False, detail=str(exc))
    except (OSError, ValueError) as exc:
        return Check(
            name="work_root", ok=False, detail=f"cannot use {work_root!r}: {getattr(exc, 'strerror', None) or exc}"
        )
    if not stat.S_ISDIR(info.st_mode):
        return Check(name="work_root", ok=False, detail=f"{work_root} is not a folder")
    if info.st_uid != os.getuid():
        return Check(name="work_root", ok=False, detail=f"{work_root} belongs to uid {info.st_uid}, not to you")
    if info.st_mode & 0o022:
        mode = f"{stat.S_IMODE(info.st_mode):o}"
        detail = f"{work_root} is writable by other users (mode {mode}): chmod 700 {work_root}"
        return Check(name="work_root", ok=False, detail=detail)
    if not os.access(work_root, os.W_OK):
        return Check(name="work_root", ok=False, detail=f"{work_root} is not writable")
    return Check(name="work_root", ok=True)


def _local_checks(target: Target, fake_agents: bool) -> DoctorReport:
    checks = [work_root_check(target.work_root)]
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
