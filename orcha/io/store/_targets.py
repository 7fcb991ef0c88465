"""Targets, their atomic session slots, and the row-unique locks."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import apsw

from orcha import ids
from orcha.errors import ConflictError, InvalidInputError, LockNotHeldError, NotFoundError
from orcha.io.store import _rows
from orcha.io.store._db import Database, Tx
from orcha.model import LockKind, SessionRole, SessionStatus, SlotClaim, Target, TargetKind, TargetStatus
from orcha.scheduling import RUNNABLE_STATUSES, Placement, Runnable, SchedulingView
from orcha.transitions import validate_target_transition


def _load_target(tx: Tx, target_id: str) -> Target:
    row = tx.row("SELECT * FROM targets WHERE id = ?", (target_id,))
    if row is None:
        raise NotFoundError("target", target_id)
    return _rows.target(row)


def _claim(tx: Tx, target_id: str, session_id: str, *, slot: bool) -> SlotClaim:
    """A slot on ``target_id`` for ``session_id`` (``slot``), or only its placement there (a manager)."""
    found = tx.first("SELECT status, capacity_sessions FROM targets WHERE id = ?", (target_id,))
    if found is None:
        raise NotFoundError("target", target_id)
    target_status, capacity = TargetStatus(found[0]), int(found[1])  # (what a claim decides on, not the row)
    status = tx.value("SELECT status FROM sessions WHERE id = ?", (session_id,))
    if status is None:
        raise NotFoundError("session", session_id)
    if slot:
        held_on = tx.value("SELECT target_id FROM target_slots WHERE session_id = ?", (session_id,))
        if held_on == target_id:
            return SlotClaim.ALREADY_HELD
        if held_on is not None:
            raise ConflictError(f"session {session_id} already holds a slot on target {held_on}")
    if SessionStatus(status).is_terminal:
        return SlotClaim.SESSION_ENDED
    if not target_status.accepts_sessions:
        return SlotClaim.TARGET_UNAVAILABLE
    if not slot:
        tx.execute("UPDATE sessions SET target_id = ?, updated_at = ? WHERE id = ?", (target_id, tx.now, session_id))
        tx.event("session_placed", session_id=session_id, target_id=target_id)
        return SlotClaim.CLAIMED
    load = tx.value("SELECT slots FROM target_loads WHERE target_id = ?", (target_id,)) or 0
    if load >= capacity:
        return SlotClaim.FULL
    tx.execute(
        "INSERT INTO target_slots (session_id, target_id, claimed_at) VALUES (?, ?, ?)",
        (session_id, target_id, tx.now),
    )
    tx.execute("UPDATE sessions SET target_id = ?, updated_at = ? WHERE id = ?", (target_id, tx.now, session_id))
    tx.event("slot_claimed", target_id=target_id, session_id=session_id, load=load + 1)
    return SlotClaim.CLAIMED


_WAITING = "waiting_capacity"
_COLUMNS = (
    "created_at, rowid, id, role, agent, status, target_id, workspace_id, labels,"
    " (SELECT group_concat(depends_on, ' ') FROM session_deps d WHERE d.session_id = sessions.id)"
)
"""What a tick decides on, its order first (the dependencies in one correlated subquery: none for most)."""


def _runnable(tx: Tx, statuses: Sequence[str], waiting_workers: int | None) -> tuple[list[Runnable], int | None]:
    """The sessions in ``statuses``, oldest first, as a tick sees them (only what it decides on); of the
    workers waiting for capacity, only the oldest ``waiting_workers`` (all with ``None``). Also: after how
    many of them the first worker left out comes (``None``: none was).

    The workers waiting for capacity (a queue that may be long) are read on their own, in the order of the
    ``sessions_by_role_status`` index (role, status, created_at): the page costs its own rows, not the queue's."""
    others = [s for s in statuses if s != _WAITING]
    rows = tx.tuples(f"SELECT {_COLUMNS} FROM sessions WHERE status IN ({','.join('?' * len(others))})", others)
    first_left_out = None
    if _WAITING in statuses:
        rows += tx.tuples(f"SELECT {_COLUMNS} FROM sessions WHERE status = ? AND role != 'worker'", (_WAITING,))
        limit = -1 if waiting_workers is None else waiting_workers + 1
        waiting = tx.tuples(
            f"SELECT {_COLUMNS} FROM sessions WHERE role = 'worker' AND status = ? ORDER BY created_at, rowid LIMIT ?",
            (_WAITING, limit),
        )
        if waiting_workers is not None and len(waiting) > waiting_workers:
            first_left_out = waiting.pop()[:2]
        rows += waiting
    rows.sort(key=lambda r: r[:2])
    left_out_after = None if first_left_out is None else sum(1 for r in rows if r[:2] < first_left_out)
    return [
        Runnable(
            id=id_,
            role=_rows.ROLES[role],  # (a dict, not the enum's call: a tick reads a page of them)
            agent=agent,
            status=_rows.STATUSES[status],
            target_id=target_id,
            workspace_id=workspace_id,
            labels=tuple(json.loads(labels)) if labels not in (None, "[]") else (),
            depends_on=tuple(deps.split(" ")) if deps else (),
        )
        for _, _, id_, role, agent, status, target_id, workspace_id, labels, deps in rows
    ], left_out_after


class TargetsMixin:
    _db: Database

    # --- targets ------------------------------------------------------------------------------------------

    def create_target(
        self,
        *,
        name: str,
        kind: TargetKind,
        work_root: str,
        capacity_sessions: int,
        host: str | None = None,
        user: str | None = None,
        port: int | None = None,
        metadata: Mapping[str, Any] | None = None,
        status: TargetStatus = TargetStatus.OFFLINE,
    ) -> Target:
        """Register a target. New targets start ``offline`` until a doctor passes, unless told otherwise."""
        if not name.strip():
            raise InvalidInputError("name must not be empty", field="name")
        if capacity_sessions < 0:
            raise InvalidInputError("capacity_sessions must be >= 0", field="capacity_sessions")
        if kind is TargetKind.SSH and not host:
            raise InvalidInputError("an ssh target needs a host", field="host")
        target_id = ids.new_id("target")
        with self._db.write() as tx:
            try:
                tx.execute(
                    "INSERT INTO targets (id, name, kind, host, user, port, work_root, capacity_sessions, status,"
                    " metadata, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        target_id,
                        name,
                        kind,
                        host,
                        user,
                        port,
                        work_root,
                        capacity_sessions,
                        status,
                        json.dumps(dict(metadata or {}), sort_keys=True),
                        tx.now,
                        tx.now,
                    ),
                )
            except apsw.ConstraintError as exc:
                raise ConflictError(f"a target named {name!r} already exists") from exc
            tx.event("target_created", target_id=target_id, name=name, kind=kind, status=status)
            return _load_target(tx, target_id)

    def get_target(self, target_id: str) -> Target:
        with self._db.read() as tx:
            return _load_target(tx, target_id)

    def find_target(self, name_or_id: str) -> Target:
        """The target with this id or, failing that, this name."""
        with self._db.read() as tx:
            row = tx.row("SELECT * FROM targets WHERE id = ? OR name = ? ORDER BY id = ? DESC", (name_or_id,) * 3)
            if row is None:
                raise NotFoundError("target", name_or_id)
            return _rows.target(row)

    def list_targets(self) -> list[Target]:
        with self._db.read() as tx:
            return [_rows.target(r) for r in tx.rows("SELECT * FROM targets ORDER BY created_at, name")]

    def set_target_status(self, target_id: str, status: TargetStatus, *, reason: str | None = None) -> Target:
        """Move a target to ``status``, validated by the target state machine in the same transaction (to
        its current status: only the reason changes)."""
        with self._db.write() as tx:
            target = _load_target(tx, target_id)
            if status is not target.status:
                validate_target_transition(target.status, status)
            tx.execute(
                "UPDATE targets SET status = ?, status_reason = ?, updated_at = ? WHERE id = ?",
                (status, reason, tx.now, target_id),
            )
            tx.event("target_status", target_id=target_id, old=target.status, new=status, reason=reason)
            return _load_target(tx, target_id)

    def record_target_host_key(self, target_id: str, host_key: str) -> Target:
        """Record the fingerprint of an SSH target's host key, as its doctor verified (or first trusted) it."""
        with self._db.write() as tx:
            target = _load_target(tx, target_id)
            if target.host_key != host_key:
                tx.execute(
                    "UPDATE targets SET host_key = ?, updated_at = ? WHERE id = ?", (host_key, tx.now, target_id)
                )
                tx.event("target_host_key", target_id=target_id, host_key=host_key, old=target.host_key)
            return _load_target(tx, target_id)

    def set_target_capacity(self, target_id: str, capacity_sessions: int) -> Target:
        """Change a target's capacity. Lowering it below the load takes no slot away; it only stops claims."""
        if capacity_sessions < 0:
            raise InvalidInputError("capacity_sessions must be >= 0", field="capacity_sessions")
        with self._db.write() as tx:
            _load_target(tx, target_id)
            tx.execute(
                "UPDATE targets SET capacity_sessions = ?, updated_at = ? WHERE id = ?",
                (capacity_sessions, tx.now, target_id),
            )
            tx.event("target_capacity", target_id=target_id, capacity_sessions=capacity_sessions)
            return _load_target(tx, target_id)

    # --- slots --------------------------------------------------------------------------------------------

    def claim_target_slot(self, target_id: str, session_id: str) -> SlotClaim:
        """Atomically claim one of ``target_id``'s session slots for ``session_id``.

        Granted only while the target is online and its claimed slots are below capacity; never exceeds
        capacity, whatever the number of concurrent claimers (``BEGIN IMMEDIATE`` serializes them). A session
        holds at most one slot; claiming again on the same target is :attr:`SlotClaim.ALREADY_HELD`.
        """
        with self._db.write() as tx:
            return _claim(tx, target_id, session_id, slot=True)

    def release_target_slot(self, session_id: str) -> bool:
        """Give back the slot ``session_id`` holds; ``False`` when it held none."""
        with self._db.write() as tx:
            target_id = tx.value("SELECT target_id FROM target_slots WHERE session_id = ?", (session_id,))
            if target_id is None:
                return False
            tx.execute("DELETE FROM target_slots WHERE session_id = ?", (session_id,))
            tx.event("slot_released", target_id=target_id, session_id=session_id)
            return True

    def place_session(self, target_id: str, session_id: str) -> SlotClaim:
        """Put a session on ``target_id`` without a slot (a manager): granted only while the target takes
        sessions and the session has not ended."""
        with self._db.write() as tx:
            return _claim(tx, target_id, session_id, slot=False)

    def claim_placements(self, placements: Sequence[Placement]) -> list[SlotClaim]:
        """A scheduler tick's placements in one transaction, in order: each is :meth:`claim_target_slot` (a
        worker's) or :meth:`place_session` (``slot=False``, a manager's), with the same checks and outcomes,
        so capacity holds however many are claimed at once. A placement naming a session or target that does
        not exist is refused alone (:attr:`SlotClaim.SESSION_ENDED` or :attr:`SlotClaim.TARGET_UNAVAILABLE`);
        a conflict (a slot held elsewhere) raises and claims nothing."""
        with self._db.write() as tx:
            outcomes = []
            for placement in placements:
                try:
                    outcomes.append(_claim(tx, placement.target_id, placement.session_id, slot=placement.slot))
                except NotFoundError as exc:
                    gone = SlotClaim.TARGET_UNAVAILABLE if exc.kind == "target" else SlotClaim.SESSION_ENDED
                    outcomes.append(gone)
            return outcomes

    def scheduling_view(self, *, waiting_workers: int | None = None) -> SchedulingView:
        """A scheduler tick's snapshot, in one read transaction: the runnable sessions (oldest first), their
        dependencies' statuses, the targets, their loads, and the live workers and managers. With
        ``waiting_workers``, only the oldest that many of the workers waiting for capacity are in it
        (``left_out_after`` says where the first left out would be): a long queue is not read whole at every tick."""
        runnable = [str(s) for s in RUNNABLE_STATUSES]
        with self._db.read() as tx:
            sessions, left_out_after = _runnable(tx, runnable, waiting_workers)
            deps = list(dict.fromkeys(d for session in sessions for d in session.depends_on))
            statuses: dict[str, SessionStatus] = {}
            for chunk_start in range(0, len(deps), 500):
                chunk = deps[chunk_start : chunk_start + 500]
                for r in tx.rows(f"SELECT id, status FROM sessions WHERE id IN ({','.join('?' * len(chunk))})", chunk):
                    statuses[r["id"]] = SessionStatus(r["status"])
            targets = [_rows.target(r) for r in tx.rows("SELECT * FROM targets ORDER BY created_at, name")]
            loads = dict(tx.tuples("SELECT target_id, slots FROM target_loads WHERE slots > 0"))
            counts = dict(tx.tuples("SELECT role, n FROM live_sessions"))
            workers, managers = counts.get(SessionRole.WORKER, 0), counts.get(SessionRole.MANAGER, 0)
            return SchedulingView(
                runnable=sessions,
                dependency_statuses=statuses,
                targets=targets,
                loads=loads,
                live_workers=workers,
                live_managers=managers,
                left_out_after=left_out_after,
            )

    def target_loads(self) -> dict[str, int]:
        """Claimed slots per target id (targets with none are absent)."""
        with self._db.read() as tx:
            return dict(tx.tuples("SELECT target_id, slots FROM target_loads WHERE slots > 0"))

    def slot_holders(self) -> dict[str, str]:
        """Every claimed slot, as session id → target id."""
        with self._db.read() as tx:
            rows = tx.rows("SELECT session_id, target_id FROM target_slots")
            return {r["session_id"]: r["target_id"] for r in rows}

    # --- locks --------------------------------------------------------------------------------------------

    def acquire_lock(self, kind: LockKind, key: str, owner: str) -> bool:
        """Take the ``kind`` lock on ``key`` for ``owner``; ``False`` (and no change) when another holds it.

        Re-acquiring a lock one already holds succeeds. An owner that is a finished session is refused with
        :class:`ConflictError`: late work of a canceled session never takes a workspace. The primary key on
        ``(kind, key)`` makes a second holder impossible, whatever the interleaving.
        """
        if not key or not owner:
            raise InvalidInputError("a lock needs a key and an owner")
        with self._db.write() as tx:
            owner_status = tx.value("SELECT status FROM sessions WHERE id = ?", (owner,))
            if owner_status is not None and SessionStatus(owner_status).is_terminal:
                raise ConflictError(f"session {owner} is {owner_status}: a finished session takes no locks")
            tx.execute(
                "INSERT OR IGNORE INTO locks (kind, key, owner, acquired_at) VALUES (?, ?, ?, ?)",
                (kind, key, owner, tx.now),
            )
            if tx.changes():
                tx.event("lock_acquired", lock_kind=kind, key=key, owner=owner)
                return True
            return bool(tx.value("SELECT owner = ? FROM locks WHERE kind = ? AND key = ?", (owner, kind, key)))

    def release_lock(self, kind: LockKind, key: str, owner: str) -> None:
        """Release a lock ``owner`` holds; raises :class:`LockNotHeldError` otherwise."""
        with self._db.write() as tx:
            holder = tx.value("SELECT owner FROM locks WHERE kind = ? AND key = ?", (kind, key))
            if holder != owner:
                held = f"held by {holder!r}" if holder else "not held"
                raise LockNotHeldError(f"{owner!r} cannot release the {kind} lock on {key!r}: it is {held}")
            tx.execute("DELETE FROM locks WHERE kind = ? AND key = ?", (kind, key))
            tx.event("lock_released", lock_kind=kind, key=key, owner=owner)

    def lock_holder(self, kind: LockKind, key: str) -> str | None:
        with self._db.read() as tx:
            holder = tx.value("SELECT owner FROM locks WHERE kind = ? AND key = ?", (kind, key))
            return str(holder) if holder is not None else None

    def release_locks_of(self, owner: str, *, reason: str) -> int:
        """Recovery: release every lock ``owner`` holds (an owner known to be dead). Returns how many."""
        with self._db.write() as tx:
            tx.execute("DELETE FROM locks WHERE owner = ?", (owner,))
            released = tx.changes()
            if released:
                tx.event("locks_recovered", owner=owner, released=released, reason=reason)
            return released

    def list_locks(self) -> list[tuple[LockKind, str, str]]:
        """Every held lock as ``(kind, key, owner)``."""
        with self._db.read() as tx:
            return [
                (LockKind(r["kind"]), r["key"], r["owner"])
                for r in tx.rows("SELECT kind, key, owner FROM locks ORDER BY kind, key")
            ]
