"""The processes of this machine, for the boot sweep: look at a recorded group, find the marked agents, stop a
group, end a tmux session.

A group is signalled only after ``/proc`` shows it is still the one recorded or seen (:func:`orcha.processes.
is_recorded_group`): never by name, never by a bare pid.
"""

from __future__ import annotations

import logging
import os
import signal

import trio

from orcha.executor import CommandError, Executor
from orcha.io.local_executor import LocalExecutor
from orcha.io.proc_identity import boot_id, find_marked, observe_group
from orcha.processes import GroupObservation, KillOutcome, MarkedProcess, ProcessIdentity, is_recorded_group

log = logging.getLogger(__name__)

POLL = 0.05


class LocalProcesses:
    """Implements the sweep's ``LocalHost`` for this machine. ``grace`` is how long a SIGTERM'd group gets
    before SIGKILL; ``verify`` how long the group may take to vanish after SIGKILL; ``mark`` the mark of the
    agents this machine's executor starts (:class:`~orcha.io.local_executor.LocalExecutor`), if it marks them."""

    def __init__(
        self, executor: Executor | None = None, *, grace: float = 3.0, verify: float = 5.0, mark: str | None = None
    ) -> None:
        self._executor = executor or LocalExecutor()
        self.grace = grace
        self.verify = verify
        self.mark = mark

    async def marked(self) -> tuple[str, list[MarkedProcess]]:
        """This boot's id and the live processes that carry the mark (none without one): a scan of ``/proc``,
        two reads a process, on a worker thread (a machine runs thousands)."""
        if self.mark is None:
            await trio.lowlevel.checkpoint()
            return boot_id(), []
        return boot_id(), await trio.to_thread.run_sync(find_marked, self.mark)

    async def observe(self, pgid: int) -> GroupObservation:
        await trio.lowlevel.checkpoint()
        return observe_group(pgid)

    async def kill_group(self, identity: ProcessIdentity) -> KillOutcome:
        """SIGTERM the group if it is still the recorded one, wait ``grace``, SIGKILL what is left (checked
        again first), and wait ``verify`` for it to be gone."""
        pgid = identity.pgid
        for sig, wait in ((signal.SIGTERM, self.grace), (signal.SIGKILL, self.verify)):
            seen = observe_group(pgid)
            if not seen.members:
                return KillOutcome.GONE if sig is signal.SIGKILL else KillOutcome.CHANGED
            if not is_recorded_group(identity, seen):
                return KillOutcome.CHANGED
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                return KillOutcome.GONE
            except PermissionError:
                log.error("not allowed to signal process group %d", pgid)
                return KillOutcome.SURVIVED
            if await _wait_gone(pgid, wait):
                return KillOutcome.GONE
        return KillOutcome.SURVIVED

    async def kill_tmux_session(self, name: str) -> None:
        try:
            await self._executor.run(["tmux", "kill-session", "-t", name])
        except CommandError as exc:
            log.warning("cannot kill tmux session %s: %s", name, exc)


async def _wait_gone(pgid: int, within: float) -> bool:
    """Poll ``/proc`` until no live process of the group is left; ``False`` if some still are after ``within``."""
    with trio.move_on_after(within):
        while observe_group(pgid).members:  # noqa: ASYNC110 - /proc has no event to wait on
            await trio.sleep(POLL)
        return True
    return False
