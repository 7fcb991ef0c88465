"""The boot sweep: at orcha's start, the agent processes an earlier orcha left behind are stopped or re-adopted.

Every agent process's identity is stored before it runs (:mod:`orcha.processes`). Before any session actor
starts, :func:`sweep_owned_processes` looks at each recorded process of this machine: one that is gone, or is
now a different process (another boot, another start time), is only forgotten; a headless agent (its pipes
died with the old orcha) is killed, and its session, found ``running``, is requeued and resumed through its
provider session id; a tmux pane is kept for its unfinished session (the tmux provider re-attaches to it) or,
its session over, killed with its tmux session. Records of other targets are left for their target.

An agent this machine's executor marked instead of recording it (:mod:`orcha.processes`) is found by
:func:`sweep_marked_processes`, at the same moment: the group of each marked process whose session has not
ended is killed the same way, and its session resumes.
"""

from __future__ import annotations

import enum
import logging
import os
from collections.abc import Collection, Iterable, Mapping
from typing import Protocol

import attrs
import trio

from orcha.errors import OrchaError
from orcha.model import SessionStatus, TargetKind
from orcha.ports import Db
from orcha.processes import (
    GroupObservation,
    KillOutcome,
    MarkedGroup,
    MarkedProcess,
    OwnedProcess,
    ProcessIdentity,
    is_recorded_group,
    plan_marked,
)

log = logging.getLogger(__name__)


class SweepAction(enum.StrEnum):
    KILL = "kill"
    """A headless agent that outlived its orcha: kill its group, forget it (its session resumes)."""
    KILL_PANE = "kill_pane"
    """The tmux pane of a finished session: kill its group and its tmux session, forget it."""
    ADOPT = "adopt"
    """The tmux pane of an unfinished session: keep it (and its record) for the session to re-attach."""
    FORGET = "forget"
    """Gone, or a different process now: forget the record, touch nothing."""
    LEAVE = "leave"
    """On another target: left for that target's sweep."""


@attrs.frozen(kw_only=True)
class SweepStep:
    record: OwnedProcess
    action: SweepAction
    reason: str


def plan_sweep(
    records: Iterable[OwnedProcess],
    *,
    local_targets: Collection[str],
    seen: Mapping[int, GroupObservation],
    unfinished: Collection[str],
) -> list[SweepStep]:
    """What to do with each recorded process: ``seen`` holds what runs now in the group of each record of a
    ``local_targets`` target, ``unfinished`` the ids of the sessions that have not ended."""
    steps = []
    for record in records:
        identity = record.identity
        if record.target_id not in local_targets:
            action, reason = SweepAction.LEAVE, f"on target {record.target_id}, not this machine"
        elif not is_recorded_group(identity, seen[identity.pgid]):
            gone = not seen[identity.pgid].members
            action, reason = SweepAction.FORGET, "gone" if gone else "a different process now"
        elif identity.kind != "tmux":
            action, reason = SweepAction.KILL, "its orcha died: its pipes are gone"
        elif record.session_id in unfinished:
            action, reason = SweepAction.ADOPT, "its session goes on: the pane is re-attached"
        else:
            action, reason = SweepAction.KILL_PANE, "its session has ended"
        steps.append(SweepStep(record=record, action=action, reason=reason))
    return steps


class HostProcesses(Protocol):
    """This machine's processes, as the sweep needs them (``orcha.io.local_processes.LocalProcesses``)."""

    async def observe(self, pgid: int) -> GroupObservation:
        """What runs now in the group ``pgid``."""

    async def kill_group(self, identity: ProcessIdentity) -> KillOutcome:
        """If the group is still the recorded one: SIGTERM it, wait a grace, SIGKILL it, and verify it is gone."""

    async def kill_tmux_session(self, name: str) -> None:
        """``tmux kill-session -t name`` (a session already gone is no error)."""


class LocalHost(HostProcesses, Protocol):
    """This machine's processes: the recorded ones, and the agents its executor marked."""

    async def marked(self) -> tuple[str, list[MarkedProcess]]:
        """This boot's id, and the live processes that carry this orcha's mark (``OSError``: no ``/proc``)."""


UNFINISHED = frozenset(s for s in SessionStatus if not s.is_terminal)


async def sweep_owned_processes(
    db: Db, processes: HostProcesses, *, target_ids: Collection[str] | None = None, session_id: str | None = None
) -> list[SweepStep]:
    """Look at every recorded process (or only ``session_id``'s) and do what :func:`plan_sweep` says (the
    kills at the same time); returns the steps. Blocks for the kills' grace at most, and a little more to
    verify. With ``session_id``, an ended session's leftovers are stopped while orcha runs (a pane found at
    start whose session was cancelled before it was re-attached)."""
    records = await db.run(lambda s: s.list_owned_processes())
    if session_id is not None:
        records = [r for r in records if r.session_id == session_id]
    if not records:
        return []
    if target_ids is None:  # this machine's targets
        local = {t.id for t in await db.run(lambda s: s.list_targets()) if t.kind is TargetKind.LOCAL}
    else:  # the targets of ``processes``' machine (an SSH target)
        local = set(target_ids)
    ids = {r.session_id for r in records}
    statuses = await db.run(lambda s: s.session_statuses(ids))
    unfinished = {sid for sid, status in statuses.items() if status in UNFINISHED}
    try:
        seen = {r.identity.pgid: await processes.observe(r.identity.pgid) for r in records if r.target_id in local}
    except (OSError, OrchaError) as exc:  # no /proc to tell, or no connection: nothing is killed blind
        log.error("boot sweep: cannot look at this machine's processes (%s); %d records kept", exc, len(records))
        return []
    steps = plan_sweep(records, local_targets=local, seen=seen, unfinished=unfinished)
    async with trio.open_nursery() as nursery:
        for step in steps:
            nursery.start_soon(_perform, db, processes, step)
    return steps


async def _perform(db: Db, processes: HostProcesses, step: SweepStep) -> None:
    record, identity = step.record, step.record.identity
    what = f"{identity.kind} process group {identity.pgid} of session {record.session_id}"
    session_id, target_id, pgid = record.session_id, record.target_id, identity.pgid
    match step.action:
        case SweepAction.LEAVE:
            log.info("boot sweep: leaving %s: %s", what, step.reason)
            return
        case SweepAction.ADOPT:
            log.info("boot sweep: keeping %s: %s", what, step.reason)
            await db.run(
                lambda s: s.record_event(
                    "owned_process_adopted", session_id=session_id, target_id=target_id, pgid=pgid, kind=identity.kind
                )
            )
            return
        case SweepAction.FORGET:
            log.info("boot sweep: forgetting %s: %s", what, step.reason)
        case SweepAction.KILL | SweepAction.KILL_PANE:
            outcome = await processes.kill_group(identity)
            if outcome is KillOutcome.SURVIVED:
                log.error("boot sweep: %s survived SIGKILL; its record is kept for the next start", what)
                await db.run(
                    lambda s: s.record_event(
                        "owned_process_survived", session_id=session_id, target_id=target_id, pgid=pgid
                    )
                )
                return
            if outcome is KillOutcome.GONE and step.action is SweepAction.KILL_PANE and identity.tmux_session:
                await processes.kill_tmux_session(identity.tmux_session)
            if outcome is KillOutcome.CHANGED:
                log.info("boot sweep: forgetting %s: it changed before it was killed", what)
            else:
                log.warning("boot sweep: killed %s: %s", what, step.reason)
                await _record_kill(db, session_id, target_id, pgid, kind=identity.kind, reason=step.reason)
    await db.run(lambda s: s.forget_owned_process(session_id, pgid))


async def sweep_marked_processes(db: Db, processes: LocalHost, *, target_id: str | None) -> list[MarkedGroup]:
    """Kill the groups of the marked agents an earlier orcha left (:func:`orcha.processes.plan_marked`), at
    once, each as a recorded headless group is (``target_id``: this machine's target, for the audit log);
    returns the groups. Run before any session actor starts: none of this orcha's own carries the mark yet."""
    try:
        boot, found = await processes.marked()
    except (OSError, OrchaError) as exc:  # no /proc to tell: nothing is killed blind
        log.error("boot sweep: cannot look for marked agent processes (%s)", exc)
        return []
    if not found:
        return []
    ids = {p.session_id for p in found if p.session_id}
    statuses = await db.run(lambda s: s.session_statuses(ids))
    ended = {sid for sid, status in statuses.items() if status.is_terminal}
    groups = plan_marked(found, boot_id=boot, ended=ended, own_pgid=os.getpgrp())
    async with trio.open_nursery() as nursery:
        for group in groups:
            session_id = next((s for s in group.session_ids if s in statuses), None)  # (the log names a known one)
            nursery.start_soon(_stop_marked, db, processes, group, session_id, target_id)
    return groups


async def _stop_marked(
    db: Db, processes: LocalHost, group: MarkedGroup, session_id: str | None, target_id: str | None
) -> None:
    pgid, sessions = group.identity.pgid, ", ".join(s or "(none named)" for s in group.session_ids)
    what = f"marked process group {pgid} of session {sessions}"
    outcome = await processes.kill_group(group.identity)
    if outcome is KillOutcome.CHANGED:
        log.info("boot sweep: leaving %s: it changed before it was killed", what)
        return
    if outcome is KillOutcome.SURVIVED:
        log.error("boot sweep: %s survived SIGKILL", what)
        await db.run(
            lambda s: s.record_event("owned_process_survived", session_id=session_id, target_id=target_id, pgid=pgid)
        )
        return
    reason = "its orcha died: its pipes are gone"
    log.warning("boot sweep: killed %s: %s", what, reason)
    await _record_kill(db, session_id, target_id, pgid, kind="headless", reason=reason, found="mark")


async def _record_kill(
    db: Db, session_id: str | None, target_id: str | None, pgid: int, *, kind: str, reason: str, **found: str
) -> None:
    """The audit log's ``owned_process_killed`` (``found``: how the group was found, when not by its record)."""
    await db.run(
        lambda s: s.record_event(
            "owned_process_killed",
            session_id=session_id,
            target_id=target_id,
            pgid=pgid,
            kind=kind,
            reason=reason,
            **found,
        )
    )
