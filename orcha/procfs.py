"""A process's identity read from ``/proc`` through an executor (the process may run on another machine)."""

from __future__ import annotations

from orcha.executor import CommandError, Executor
from orcha.processes import ProcessIdentity, parse_stat

BOOT_ID = "/proc/sys/kernel/random/boot_id"


def identity_argv(pid: int) -> list[str]:
    """The command whose output :func:`parse_identity` reads: the boot id, then the process's ``stat``."""
    return ["cat", BOOT_ID, f"/proc/{int(pid)}/stat"]


def parse_identity(out: str, pid: int, *, kind: str, tmux_session: str | None = None) -> ProcessIdentity:
    """The identity of process ``pid`` from the output of :func:`identity_argv`; a
    :class:`~orcha.executor.CommandError` when it does not hold one."""
    boot_id, _, stat = out.partition("\n")
    try:
        start_time = parse_stat(stat).start_time
    except ValueError as exc:
        raise CommandError(f"cannot read the identity of process {pid}: {exc}") from exc
    return ProcessIdentity(
        pgid=pid, start_time=start_time, boot_id=boot_id.strip(), kind=kind, tmux_session=tmux_session
    )


async def read_identity(executor: Executor, pid: int, *, kind: str, tmux_session: str | None = None) -> ProcessIdentity:
    """The identity of process ``pid`` (a group leader) on the executor's machine, read with one ``cat``.

    Raises :class:`~orcha.executor.CommandError` when the process is gone or ``/proc`` cannot be read.
    """
    out = (await executor.run(identity_argv(pid))).check().stdout
    return parse_identity(out, pid, kind=kind, tmux_session=tmux_session)
