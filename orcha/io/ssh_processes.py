"""The processes of an SSH target, for the boot sweep: look at a recorded group, stop it, end a tmux session.

The same rules as on this machine (:mod:`orcha.io.local_processes`): a group is signalled only after the
target's ``/proc``, read over the connection, shows it is still the recorded one (same boot, same start time).
"""

from __future__ import annotations

import logging

import trio

from orcha.executor import CommandError
from orcha.io.ssh_executor import SSHExecutor
from orcha.processes import GroupObservation, KillOutcome, ProcessIdentity, ProcStat, is_recorded_group, parse_stat
from orcha.procfs import BOOT_ID

log = logging.getLogger(__name__)

POLL = 0.2
SCAN = (
    f"cat {BOOT_ID}; for f in /proc/[0-9]*/stat; do "
    '{ IFS= read -r line < "$f"; } 2>/dev/null && printf "%s\\n" "$line"; done'
)
"""The boot id, then one ``/proc/<pid>/stat`` line per process."""


class SSHProcesses:
    """Implements the sweep's ``HostProcesses`` for one SSH target, over its pooled connection."""

    def __init__(self, executor: SSHExecutor, *, grace: float = 3.0, verify: float = 5.0) -> None:
        self._executor = executor
        self.grace = grace
        self.verify = verify

    async def observe(self, pgid: int) -> GroupObservation:
        """What runs now in group ``pgid`` there. Raises :class:`~orcha.executor.CommandError` without a
        connection (the sweep then keeps its records for the next start)."""
        out = (await self._executor.run(["sh", "-c", SCAN])).check().stdout
        boot_id, _, rest = out.partition("\n")
        members: list[ProcStat] = []
        for line in rest.splitlines():
            try:
                stat = parse_stat(line)
            except ValueError:
                continue
            if stat.pgid == pgid and stat.state != "Z":
                members.append(stat)
        return GroupObservation(boot_id=boot_id.strip(), members=tuple(sorted(members, key=lambda m: m.pid)))

    async def kill_group(self, identity: ProcessIdentity) -> KillOutcome:
        """SIGTERM the group if it is still the recorded one, wait ``grace``, SIGKILL what is left (checked
        again first), and wait ``verify`` for it to be gone."""
        pgid = identity.pgid
        if pgid <= 1:
            return KillOutcome.CHANGED
        for sig, wait in (("TERM", self.grace), ("KILL", self.verify)):
            seen = await self.observe(pgid)
            if not seen.members:
                return KillOutcome.GONE if sig == "KILL" else KillOutcome.CHANGED
            if not is_recorded_group(identity, seen):
                return KillOutcome.CHANGED
            await self._executor.run(["kill", f"-{sig}", "--", f"-{pgid}"])
            with trio.move_on_after(wait):
                while (await self.observe(pgid)).members:  # noqa: ASYNC110 - remote /proc has no event
                    await trio.sleep(POLL)
                return KillOutcome.GONE
        return KillOutcome.SURVIVED

    async def kill_tmux_session(self, name: str) -> None:
        try:
            await self._executor.run(["tmux", "kill-session", "-t", name])
        except CommandError as exc:
            log.warning("cannot kill tmux session %s on %s: %s", name, self._executor.name, exc)
