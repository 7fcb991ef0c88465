"""Who an agent process is: recorded before it runs, so a restarted orcha finds its own and nobody else's.

A process is known by its group id on its target and its start time (``/proc/<pid>/stat`` field 22, in clock
ticks since boot, with the boot's id): a pid that was reused by another program after a crash never matches.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import attrs


@attrs.frozen(kw_only=True)
class ProcessIdentity:
    """An agent process (a headless CLI's group, or a tmux pane's) as recorded before it runs."""

    pgid: int
    start_time: int
    """``/proc/<pgid>/stat`` field 22: clock ticks after boot at which the group leader started."""
    boot_id: str = ""
    """``/proc/sys/kernel/random/boot_id`` of the machine it runs on (a reboot makes every record stale)."""
    kind: str = "headless"
    """``headless`` (pipes that die with orcha: stopped and resumed) or ``tmux`` (a pane: re-adopted)."""
    tmux_session: str | None = None


ProcessRecorder = Callable[[ProcessIdentity], Awaitable[None]]
"""Records a process's identity for its session (in the store) before the process is let run."""
