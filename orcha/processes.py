"""Who an agent process is, so a restarted orcha finds its own and nobody else's.

A recorded process is known by its group id on its target and its start time (``/proc/<pid>/stat`` field 22,
in clock ticks since boot, with the boot's id): a pid that was reused by another program after a crash never
matches. An agent started on this machine is not recorded but *marked*: its environment names the database of
the orcha that started it and its session (:data:`MARK_VARIABLE`, :data:`SESSION_VARIABLE`), which its
children inherit; the boot sweep finds it in ``/proc/<pid>/environ`` (:func:`plan_marked`).
"""

from __future__ import annotations

import enum
import os
from collections.abc import Awaitable, Callable, Collection, Iterable

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


PROCESS_KINDS = frozenset({"headless", "tmux"})


@attrs.frozen(kw_only=True)
class OwnedProcess:
    """A stored record: the process ``identity`` that ``session_id`` started on ``target_id``."""

    session_id: str
    target_id: str
    identity: ProcessIdentity
    created_at: float


# --- /proc, read without trio -------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ProcStat:
    """The fields of ``/proc/<pid>/stat`` that orcha uses."""

    pid: int
    state: str
    """``R``, ``S``, ``D``, ``Z`` (a zombie: it has exited, not yet reaped), …"""
    pgid: int
    start_time: int


def parse_stat(text: str) -> ProcStat:
    """Parse one ``/proc/<pid>/stat`` line. ``comm`` (field 2) may hold spaces and parentheses, so the fields
    are counted after its LAST ``)``. Raises ``ValueError`` on a line that is not one."""
    head, sep, rest = text.rpartition(")")
    pid_text, paren, _comm = head.partition("(")
    fields = rest.split()
    if not sep or not paren or len(fields) < 20:
        raise ValueError(f"not a /proc/<pid>/stat line: {text[:80]!r}")
    # fields[0] is field 3 (state), fields[2] field 5 (pgrp), fields[19] field 22 (starttime)
    return ProcStat(pid=int(pid_text), state=fields[0], pgid=int(fields[2]), start_time=int(fields[19]))


@attrs.frozen(kw_only=True)
class GroupObservation:
    """What runs now, on the machine where a process was recorded, in the group of its ``pgid``."""

    boot_id: str
    members: tuple[ProcStat, ...] = ()
    """The live (not zombie) processes of the group, its leader (``pid == pgid``) among them if it lives."""


def is_recorded_group(identity: ProcessIdentity, seen: GroupObservation) -> bool:
    """Whether the group seen now is the one recorded: never decided by a bare pid or a name.

    The same boot (an empty recorded ``boot_id`` never matches), and either the group's leader alive with the
    recorded start time, or — the leader gone, its children left — every member started at or after it (a
    group id cannot be reused while any process of the group lives, and the recorded group's children all
    started after their leader)."""
    if not identity.boot_id or identity.boot_id != seen.boot_id or not seen.members:
        return False
    leaders = [m for m in seen.members if m.pid == identity.pgid]
    if leaders:
        return leaders[0].start_time == identity.start_time
    return all(m.start_time >= identity.start_time for m in seen.members)


class KillOutcome(enum.StrEnum):
    """How an attempt to stop a recorded group ended."""

    GONE = "gone"
    """It was the recorded group and nothing of it remains (signalled and verified)."""
    CHANGED = "changed"
    """Not (or no longer) the recorded group: nothing was signalled."""
    SURVIVED = "survived"
    """Signalled, SIGKILL included, yet some of it still runs (unkillable, or not ours to kill)."""


# --- marked processes ----------------------------------------------------------------------------------

MARK_VARIABLE = "ORCHA_AGENT_OF"
"""In a local agent's environment: the database of the orcha that started it (:func:`database_mark`)."""
SESSION_VARIABLE = "ORCHA_SESSION_ID"
"""In an agent's environment: the session it runs for."""


def database_mark(db_path: str) -> str:
    """The mark of the agents started for the database at ``db_path``: its absolute path, as its lock knows it
    (one orcha serves a database at a time: ``orcha.io.dblock``)."""
    return os.path.abspath(db_path)


def mark_env(mark: str) -> dict[str, str]:
    """The environment entry that marks a process as an agent of the database ``mark`` names."""
    return {MARK_VARIABLE: mark}


def marked_session(environ: bytes, mark: str) -> str | None:
    """For a process whose environment (``/proc/<pid>/environ``: ``NAME=value`` entries, each ended by a NUL)
    carries ``mark``: the session it names (``""`` when it names none); ``None`` when it does not carry it."""
    entries = environ.split(b"\0")
    if f"{MARK_VARIABLE}={mark}".encode() not in entries:
        return None
    prefix = f"{SESSION_VARIABLE}=".encode()
    for entry in entries:
        if entry.startswith(prefix):
            return entry[len(prefix) :].decode("utf-8", "replace")
    return ""


@attrs.frozen(kw_only=True)
class MarkedProcess:
    """A live process that carries a database's mark, as ``/proc`` showed it."""

    stat: ProcStat
    session_id: str
    """The session its environment names (``""``: none)."""


@attrs.frozen(kw_only=True)
class MarkedGroup:
    """A group to stop: its identity as seen (the leader's start time, or its eldest member's once the leader
    is gone, for :func:`is_recorded_group`) and the sessions its marked members name."""

    identity: ProcessIdentity
    session_ids: tuple[str, ...]


def plan_marked(
    found: Iterable[MarkedProcess], *, boot_id: str, ended: Collection[str], own_pgid: int
) -> list[MarkedGroup]:
    """The groups an earlier orcha's agents left running, to be stopped: every group with a marked member
    whose session has not ended (``ended``: the ids of those that have) or is not named. A marked process of
    an ended session is left alone: its session's end killed its agent's group first, so it is one the agent
    detached on purpose (``setsid``), as a session that ends while orcha runs leaves it. The group of this
    orcha (``own_pgid``) is never one: an orcha started by an earlier one's agent carries its mark too."""
    groups: dict[int, list[MarkedProcess]] = {}
    for process in found:
        if process.stat.pgid == own_pgid or process.stat.state == "Z":
            continue
        if not process.session_id or process.session_id not in ended:
            groups.setdefault(process.stat.pgid, []).append(process)
    planned = []
    for pgid, members in sorted(groups.items()):
        leaders = [m for m in members if m.stat.pid == pgid]
        start = leaders[0].stat.start_time if leaders else min(m.stat.start_time for m in members)
        planned.append(
            MarkedGroup(
                identity=ProcessIdentity(pgid=pgid, start_time=start, boot_id=boot_id),
                session_ids=tuple(sorted({m.session_id for m in members})),
            )
        )
    return planned
