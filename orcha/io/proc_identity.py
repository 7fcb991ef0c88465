"""This machine's processes as ``/proc`` shows them: a process's identity, the live members of a group, and the
processes that carry a database's mark.

Plain file reads (a few per call, a scan of ``/proc`` for a group); the parsing and the decisions are pure, in
:mod:`orcha.processes`.
"""

from __future__ import annotations

import functools
import os

from orcha.executor import CommandError
from orcha.processes import GroupObservation, MarkedProcess, ProcessIdentity, ProcStat, marked_session, parse_stat

PROC = "/proc"


@functools.cache
def boot_id(proc: str = PROC) -> str:
    """This boot's id (``/proc/sys/kernel/random/boot_id``); a reboot changes it, and ends this process with
    every other: read once."""
    with open(f"{proc}/sys/kernel/random/boot_id") as handle:
        return handle.read().strip()


def read_stat(pid: int, proc: str = PROC) -> ProcStat | None:
    """``/proc/<pid>/stat`` parsed, or ``None`` when no such process exists (any more)."""
    try:
        with open(f"{proc}/{pid}/stat") as handle:
            return parse_stat(handle.read())
    except (FileNotFoundError, ProcessLookupError, ValueError):
        return None


def identity_of(pid: int, *, kind: str = "headless", tmux_session: str | None = None) -> ProcessIdentity:
    """The identity of the group leader ``pid`` (a process started in its own session). Raises
    :class:`~orcha.executor.CommandError` when ``/proc`` cannot tell (the process is gone, or no ``/proc``)."""
    try:
        stat, boot = read_stat(pid), boot_id()
    except OSError as exc:
        raise CommandError(f"cannot read the identity of process {pid}: {exc.strerror or exc}") from exc
    if stat is None:
        raise CommandError(f"cannot read the identity of process {pid}: it is gone")
    return ProcessIdentity(
        pgid=stat.pgid, start_time=stat.start_time, boot_id=boot, kind=kind, tmux_session=tmux_session
    )


def observe_group(pgid: int, proc: str = PROC) -> GroupObservation:
    """The live (not zombie) processes whose group is ``pgid``, found by a scan of ``/proc``."""
    members = []
    for name in os.listdir(proc):
        if name.isdigit():
            stat = read_stat(int(name), proc)
            if stat is not None and stat.pgid == pgid and stat.state != "Z":
                members.append(stat)
    return GroupObservation(boot_id=boot_id(proc), members=tuple(sorted(members, key=lambda m: m.pid)))


def find_marked(mark: str, proc: str = PROC) -> list[MarkedProcess]:
    """The live processes whose environment carries ``mark`` (:func:`orcha.processes.marked_session`), by a
    scan of ``/proc``: every process of this user is read, another user's environment cannot be (and holds no
    agent of ours). Raises ``OSError`` when there is no ``/proc`` to scan."""
    found = []
    for name in os.listdir(proc):
        if not name.isdigit():
            continue
        try:
            fd = os.open(f"{proc}/{name}/environ", os.O_RDONLY | os.O_CLOEXEC)
        except OSError:  # gone, or another user's
            continue
        try:
            environ = _read_all(fd)
        except OSError:
            continue
        finally:
            os.close(fd)
        session_id = marked_session(environ, mark)
        if session_id is None:
            continue
        stat = read_stat(int(name), proc)
        if stat is not None and stat.state != "Z":
            found.append(MarkedProcess(stat=stat, session_id=session_id))
    return found


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks)
