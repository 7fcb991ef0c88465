"""Objectives and sessions: creation, reads, validated status changes and usage counters."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence

import attrs

from orcha import ids, oneline, team_notices
from orcha.effects import EffectKey
from orcha.errors import ConflictError, InvalidInputError, NotFoundError, ObjectiveEndedError
from orcha.io.store import _rows
from orcha.io.store._db import Database, Tx
from orcha.io.store._effects import remember, replayed
from orcha.model import (
    Objective,
    ObjectiveStatus,
    Session,
    SessionEnd,
    SessionMode,
    SessionRole,
    SessionStatus,
    TeamMember,
    Usage,
    UsageUpdate,
)
from orcha.scheduling import LIVE_STATUSES
from orcha.store_port import UNSET
from orcha.transitions import (
    validate_objective_transition,
    validate_session_transition,
)

_UNSET = UNSET


def load_session(tx: Tx, session_id: str) -> Session:
    values = tx.first(f"SELECT {_rows.SESSION_COLUMNS} FROM sessions WHERE id = ?", (session_id,))
    if values is None:
        raise NotFoundError("session", session_id)
    return _rows.session(values)


def load_sessions(tx: Tx, where: str, params: Sequence[object] = ()) -> list[Session]:
    return [
        _rows.session(values)
        for values in tx.tuples(f"SELECT {_rows.SESSION_COLUMNS} FROM sessions WHERE {where}", params)
    ]


def load_objective(tx: Tx, objective_id: str) -> Objective:
    row = tx.row("SELECT * FROM objectives WHERE id = ?", (objective_id,))
    if row is None:
        raise NotFoundError("objective", objective_id)
    return _rows.objective(row)


def insert_notice(tx: Tx, objective_id: str, kind: str, text: str) -> int:
    """Queue a notice for the objective's manager in ``tx``; its id."""
    tx.execute(
        "INSERT INTO manager_notices (objective_id, kind, text, created_at) VALUES (?, ?, ?, ?)",
        (objective_id, kind, text, tx.now),
    )
    return int(tx.value("SELECT last_insert_rowid()"))


def live_workers(tx: Tx, objective_id: str) -> int:
    """How many of the objective's workers have not ended: its live sessions, looked up in
    ``sessions_by_objective_status``. ``+role`` keeps the role out of the index choice: with no statistics
    (orcha runs no ``ANALYZE``) SQLite would take ``sessions_by_role_status`` and read every worker in history."""
    return int(
        tx.value(
            "SELECT COUNT(*) FROM sessions"
            f" WHERE objective_id = ? AND status IN {_rows.NOT_ENDED} AND +role = 'worker'",
            (objective_id,),
        )
    )


def _update_status(
    tx: Tx,
    session_id: str,
    status: SessionStatus,
    reason: str | None,
    pause_reason: str | object | None,
    mode: SessionMode | None,
    agent: str | None,
    only_if_objective_active: bool,
    session: Session | None = None,
) -> Session:
    """The write of :meth:`SessionsMixin.update_session_status`; the session as it is after it (what the
    write changed, applied to the session read before it: no second read). ``session``: the session as this
    transaction has it already (not read again)."""
    if session is None:
        session = load_session(tx, session_id)
    if only_if_objective_active:
        objective_status = ObjectiveStatus(
            tx.value("SELECT status FROM objectives WHERE id = ?", (session.objective_id,))
        )
        if objective_status.is_terminal:
            raise ObjectiveEndedError(session.objective_id, str(objective_status))
    move_session(tx, session, status, reason)
    changes = {
        k: v for k, v in (("mode", mode), ("agent", agent)) if v is not None and v != getattr(session, k)
    }  # (a field the session has already is neither written nor told again)
    if changes:
        tx.execute(
            f"UPDATE sessions SET {', '.join(f'{k} = ?' for k in changes)} WHERE id = ?",
            (*changes.values(), session_id),
        )
        tx.event(
            "session_fields",
            objective_id=session.objective_id,
            session_id=session_id,
            **{k: str(v) for k, v in changes.items()},
        )
    paused_for = session.pause_reason
    if pause_reason is not _UNSET:
        paused_for = pause_reason  # type: ignore[assignment]
        tx.execute("UPDATE sessions SET pause_reason = ? WHERE id = ?", (pause_reason, session_id))
    elif status is SessionStatus.PAUSED:
        paused_for = reason
        tx.execute("UPDATE sessions SET pause_reason = ? WHERE id = ?", (reason, session_id))
    elif session.status is SessionStatus.PAUSED:
        paused_for = None
        tx.execute("UPDATE sessions SET pause_reason = NULL WHERE id = ?", (session_id,))
    return attrs.evolve(
        session,
        status=status,
        status_reason=reason,
        updated_at=tx.now,
        started_at=(
            (session.started_at if session.started_at is not None else tx.now)
            if status is SessionStatus.RUNNING
            else session.started_at
        ),
        ended_at=tx.now if status.is_terminal else session.ended_at,
        mode=mode if mode is not None else session.mode,
        agent=agent if agent is not None else session.agent,
        pause_reason=paused_for,
    )


def recount_live_sessions(tx: Tx) -> None:
    """Count each role's live sessions from the rows (at a writable store's open: what ``move_session`` keeps
    from then on; a write made by another program meanwhile is counted again here)."""
    live = [str(s) for s in LIVE_STATUSES]
    tx.execute(
        "UPDATE live_sessions SET n = (SELECT COUNT(*) FROM sessions s WHERE s.role = live_sessions.role"
        f" AND s.status IN ({','.join('?' * len(live))}))",
        live,
    )


def move_session(tx: Tx, session: Session, status: SessionStatus, reason: str | None) -> None:
    """Move ``session`` to ``status`` (validated) and, when terminal, give back its slot and its locks. The one
    write of a session's status: it keeps its role's count of live sessions (``live_sessions``) as it goes (a
    session is inserted queued, its role never changes)."""
    validate_session_transition(session.status, status)
    if (status in LIVE_STATUSES) != (session.status in LIVE_STATUSES):  # (no trigger: it would read the whole row)
        tx.execute(
            "UPDATE live_sessions SET n = n + ? WHERE role = ?", (1 if status in LIVE_STATUSES else -1, session.role)
        )
    tx.execute(
        "UPDATE sessions SET status = ?, status_reason = ?, updated_at = ?,"
        " started_at = CASE WHEN ? THEN COALESCE(started_at, ?) ELSE started_at END,"
        " ended_at = CASE WHEN ? THEN ? ELSE ended_at END WHERE id = ?",
        (status, reason, tx.now, status is SessionStatus.RUNNING, tx.now, status.is_terminal, tx.now, session.id),
    )
    if status.is_terminal:
        tx.execute("DELETE FROM target_slots WHERE session_id = ?", (session.id,))
        tx.execute("DELETE FROM locks WHERE owner = ?", (session.id,))
    tx.event(
        "session_status",
        objective_id=session.objective_id,
        session_id=session.id,
        target_id=session.target_id,
        old=session.status,
        new=status,
        reason=reason,
    )


class SessionsMixin:
    _db: Database
    _transcript_started: Callable[[str, int], None]

    # --- objectives ---------------------------------------------------------------------------------------

    def create_objective(
        self,
        *,
        title: str,
        prompt: str,
        agent: str,
        repo: str | None = None,
        base_branch: str | None = None,
        manager_mode: SessionMode = SessionMode.INTERACTIVE,
    ) -> tuple[Objective, Session]:
        """Create an objective together with its manager session (queued), in one transaction."""
        if not title.strip():
            raise InvalidInputError("title must not be empty", field="title")
        if not agent.strip():
            raise InvalidInputError("agent must not be empty", field="agent")
        objective_id = ids.new_id("objective")
        manager_id = ids.new_id("session")
        with self._db.write() as tx:
            tx.execute(
                "INSERT INTO objectives (id, title, prompt, agent, status, repo, base_branch, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (objective_id, title, prompt, agent, ObjectiveStatus.ACTIVE, repo, base_branch, tx.now, tx.now),
            )
            tx.event("objective_created", objective_id=objective_id, title=title, agent=agent)
            num = _insert_session(
                tx,
                session_id=manager_id,
                objective_id=objective_id,
                role=SessionRole.MANAGER,
                agent=agent,
                prompt=prompt,
                mode=manager_mode,
            )
            created = load_objective(tx, objective_id), load_session(tx, manager_id)
        self._transcript_started(manager_id, num)
        return created

    def get_objective(self, objective_id: str) -> Objective:
        with self._db.read() as tx:
            return load_objective(tx, objective_id)

    def list_objectives(self, *, status: ObjectiveStatus | None = None, limit: int = 200) -> list[Objective]:
        with self._db.read() as tx:
            if status is None:
                rows = tx.rows("SELECT * FROM objectives ORDER BY created_at DESC LIMIT ?", (limit,))
            else:
                rows = tx.rows(
                    "SELECT * FROM objectives WHERE status = ? ORDER BY created_at DESC LIMIT ?", (status, limit)
                )
            return [_rows.objective(r) for r in rows]

    def finish_objective(self, objective_id: str, status: ObjectiveStatus, *, summary: str | None = None) -> Objective:
        """End an objective (validated). Its live sessions are ended by their own actors, which it tells."""
        with self._db.write() as tx:
            current = load_objective(tx, objective_id)
            validate_objective_transition(current.status, status)
            tx.execute(
                "UPDATE objectives SET status = ?, summary = COALESCE(?, summary), updated_at = ? WHERE id = ?",
                (status, summary, tx.now, objective_id),
            )
            tx.event("objective_status", objective_id=objective_id, old=current.status, new=status, summary=summary)
            return load_objective(tx, objective_id)

    # --- sessions -----------------------------------------------------------------------------------------

    def create_session(
        self,
        *,
        objective_id: str,
        agent: str,
        prompt: str,
        role: SessionRole = SessionRole.WORKER,
        mode: SessionMode = SessionMode.INTERACTIVE,
        parent_session_id: str | None = None,
        depends_on: Iterable[str] = (),
        target_id: str | None = None,
        workspace_id: str | None = None,
        effect: EffectKey | None = None,
        labels: Iterable[str] = (),
        session_id: str | None = None,
    ) -> Session:
        """Create a queued session in an active objective; dependencies must be sessions of that objective.

        With ``effect`` (the spawning request's key), a replayed request returns the session it made; with
        ``session_id`` (a fresh id from :func:`orcha.ids.new_id`), the new session takes it, so a caller tells
        the replay (another id) from the session it made."""
        if not agent.strip():
            raise InvalidInputError("agent must not be empty", field="agent")
        deps = tuple(dict.fromkeys(depends_on))
        session_id = session_id or ids.new_id("session")
        with self._db.write() as tx:
            first = replayed(tx, effect, "spawn_session")
            if first is not None:
                return load_session(tx, first)
            objective = load_objective(tx, objective_id)
            if objective.status is not ObjectiveStatus.ACTIVE:
                raise ConflictError(f"objective {objective_id} is {objective.status}: it takes no new sessions")
            for dep in deps:
                owner = tx.value("SELECT objective_id FROM sessions WHERE id = ?", (dep,))
                if owner != objective_id:
                    raise InvalidInputError(
                        f"depends_on names {dep!r}, which is not a session of objective {objective_id}",
                        field="depends_on",
                    )
            if parent_session_id is not None:
                owner = tx.value("SELECT objective_id FROM sessions WHERE id = ?", (parent_session_id,))
                if owner != objective_id:
                    raise InvalidInputError(
                        f"parent session {parent_session_id!r} is not in objective {objective_id}",
                        field="parent_session_id",
                    )
            if target_id is not None and tx.value("SELECT 1 FROM targets WHERE id = ?", (target_id,)) is None:
                raise NotFoundError("target", target_id)
            num = _insert_session(
                tx,
                session_id=session_id,
                objective_id=objective_id,
                role=role,
                agent=agent,
                prompt=prompt,
                mode=mode,
                parent_session_id=parent_session_id,
                target_id=target_id,
                workspace_id=workspace_id,
                depends_on=deps,
            )
            wanted = sorted(set(labels))
            if wanted:
                tx.execute("UPDATE sessions SET labels = ? WHERE id = ?", (json.dumps(wanted), session_id))
            remember(tx, effect, "spawn_session", session_id)
            created = load_session(tx, session_id)
        self._transcript_started(session_id, num)
        return created

    def get_session(self, session_id: str) -> Session:
        with self._db.read() as tx:
            return load_session(tx, session_id)

    def list_sessions(
        self, *, objective_id: str | None = None, statuses: Iterable[SessionStatus] | None = None
    ) -> list[Session]:
        """Sessions, oldest first, filtered by objective and/or status."""
        clauses, params = ["1"], []
        if objective_id is not None:
            clauses.append("objective_id = ?")
            params.append(objective_id)
        if statuses is not None:
            wanted = [str(s) for s in statuses]
            clauses.append(f"status IN ({','.join('?' * len(wanted))})" if wanted else "0")
            params.extend(wanted)
        with self._db.read() as tx:
            return load_sessions(tx, " AND ".join(clauses) + " ORDER BY created_at, rowid", params)

    def list_team(self, objective_id: str) -> list[TeamMember]:
        """An objective's sessions, oldest first, as its team sees them (:class:`TeamMember`: no subquery per
        session, which :meth:`list_sessions` makes for its counters and summary)."""
        with self._db.read() as tx:
            rows = tx.tuples(
                "SELECT id, role, agent, status, mode, target_id, status_reason, pause_reason,"
                " (SELECT group_concat(depends_on, ' ') FROM session_deps d WHERE d.session_id = sessions.id)"
                " FROM sessions WHERE objective_id = ? ORDER BY created_at, rowid",
                (objective_id,),
            )
        return [
            TeamMember(
                id=id_,
                role=SessionRole(role),
                agent=agent,
                status=SessionStatus(status),
                mode=SessionMode(mode),
                target_id=target_id,
                depends_on=tuple(deps.split(" ")) if deps else (),
                status_reason=status_reason,
                pause_reason=pause_reason,
            )
            for id_, role, agent, status, mode, target_id, status_reason, pause_reason, deps in rows
        ]

    def update_session_status(
        self,
        session_id: str,
        status: SessionStatus,
        *,
        reason: str | None = None,
        pause_reason: str | object | None = _UNSET,
        mode: SessionMode | None = None,
        agent: str | None = None,
        only_if_objective_active: bool = False,
    ) -> Session:
        """Move a session to ``status``, validated inside the ``BEGIN IMMEDIATE`` transaction that writes it.

        Raises :class:`InvalidTransitionError` for an illegal move (e.g. anything out of a terminal status).
        A terminal status releases the session's target slot and locks in the same transaction. Pausing
        records ``pause_reason``; leaving ``paused`` clears it. ``mode`` and ``agent`` (``None`` keeps) are
        recorded in the same transaction, as :meth:`set_session_fields` would (a start's one write). With
        ``only_if_objective_active``, a session whose objective has ended is not moved: it raises
        :class:`ObjectiveEndedError` (the actor's check before a turn, in the move's own transaction).
        """
        with self._db.write() as tx:
            return _update_status(tx, session_id, status, reason, pause_reason, mode, agent, only_if_objective_active)

    def start_running(self, session_id: str, *, reason: str | None, mode: SessionMode, agent: str) -> Session:
        """A placed session with nothing to prepare starts at once: ``starting`` (for ``reason``) and then
        ``running`` with its ``mode`` and ``agent``, both moves in one transaction, as two
        :meth:`update_session_status` calls would write them. Only while its objective is active (else it
        raises :class:`ObjectiveEndedError` and writes nothing)."""
        with self._db.write() as tx:
            starting = _update_status(tx, session_id, SessionStatus.STARTING, reason, _UNSET, None, None, True)
            return _update_status(tx, session_id, SessionStatus.RUNNING, None, _UNSET, mode, agent, False, starting)

    def end_session(
        self,
        session_id: str,
        status: SessionStatus,
        *,
        reason: str | None = None,
        only_if_objective_active: bool = False,
        forget_processes: bool = False,
    ) -> SessionEnd:
        """Move a session to a terminal ``status`` as :meth:`update_session_status` does, and in the same
        transaction tell a worker's manager (a notice, while the objective is active: a crash never loses it)
        and, with ``forget_processes`` (its processes are known dead), forget its recorded processes."""
        if not status.is_terminal:
            raise InvalidInputError(f"{status} is not an end", field="status")
        with self._db.write() as tx:
            session = _update_status(tx, session_id, status, reason, _UNSET, None, None, only_if_objective_active)
            if forget_processes:
                tx.execute("DELETE FROM owned_processes WHERE session_id = ?", (session_id,))
            notice_id = live = None
            if session.role is SessionRole.WORKER:
                objective_status = (
                    ObjectiveStatus.ACTIVE  # (checked by the move, in this transaction)
                    if only_if_objective_active
                    else tx.value("SELECT status FROM objectives WHERE id = ?", (session.objective_id,))
                )
                if objective_status == ObjectiveStatus.ACTIVE:
                    kind, text = team_notices.worker_ended(session_id, status, reason)
                    notice_id = insert_notice(tx, session.objective_id, kind, text)
                live = live_workers(tx, session.objective_id)
            return SessionEnd(session=session, notice_id=notice_id, live_workers=live)

    def count_sessions(self, statuses: Iterable[SessionStatus], *, role: SessionRole | None = None) -> int:
        """How many sessions (of ``role``, if given) are in one of ``statuses`` (served by the status index)."""
        wanted = [str(s) for s in statuses]
        if not wanted:
            return 0
        where = f"status IN ({','.join('?' * len(wanted))})"
        params: list[str] = list(wanted)
        if role is not None:
            where += " AND role = ?"
            params.append(str(role))
        with self._db.read() as tx:
            return int(tx.value(f"SELECT COUNT(*) FROM sessions WHERE {where}", params))

    def session_statuses(self, session_ids: Iterable[str]) -> dict[str, SessionStatus]:
        """The status of each named session that exists."""
        wanted = list(dict.fromkeys(session_ids))
        if not wanted:
            return {}
        with self._db.read() as tx:
            rows = tx.rows(f"SELECT id, status FROM sessions WHERE id IN ({','.join('?' * len(wanted))})", wanted)
            return {r["id"]: SessionStatus(r["status"]) for r in rows}

    def set_status_reason(self, session_id: str, reason: str | None) -> Session:
        """Say why a session is in its status (e.g. what a waiting manager waits for), without moving it."""
        with self._db.write() as tx:
            load_session(tx, session_id)
            tx.execute(
                "UPDATE sessions SET status_reason = ?, updated_at = ? WHERE id = ?", (reason, tx.now, session_id)
            )
            return load_session(tx, session_id)

    def set_session_fields(
        self,
        session_id: str,
        *,
        mode: SessionMode | None = None,
        target_id: str | None = None,
        workspace_id: str | None = None,
        provider_session_id: str | None = None,
        attach_command: str | None = None,
        agent: str | None = None,
        waiting_question: str | object | None = _UNSET,
    ) -> Session:
        """Record runtime facts of a session (where it runs, its provider id, how to attach). ``None`` keeps,
        but for ``waiting_question`` (``None`` clears it; leave it out to keep it)."""
        fields = {
            "mode": mode,
            "target_id": target_id,
            "workspace_id": workspace_id,
            "provider_session_id": provider_session_id,
            "attach_command": attach_command,
            "agent": agent,
        }
        changes: dict[str, object] = {k: v for k, v in fields.items() if v is not None}
        if waiting_question is not _UNSET:
            changes["waiting_question"] = waiting_question
        with self._db.write() as tx:
            session = load_session(tx, session_id)
            if changes:
                assignments = ", ".join(f"{name} = ?" for name in changes)
                tx.execute(
                    f"UPDATE sessions SET {assignments}, updated_at = ? WHERE id = ?",
                    (*changes.values(), tx.now, session_id),
                )
                tx.event(
                    "session_fields",
                    objective_id=session.objective_id,
                    session_id=session_id,
                    **{k: str(v) for k, v in changes.items()},
                )
            if not changes:
                return session
            if "workspace_id" in changes:  # (its branch is its workspace's: read back)
                return load_session(tx, session_id)
            return attrs.evolve(session, updated_at=tx.now, **changes)  # type: ignore[arg-type]

    def add_session_usage(self, session_id: str, delta: Usage, *, cost_total_usd: float | None = None) -> Usage:
        """Add ``delta`` to a session's counters; ``cost_total_usd`` replaces the cost (providers report totals).
        Returns the session's counters after it (the session itself is not read back).

        A change of cost appends the objective's new total to its cost samples (``objective_cost``)."""
        with self._db.write() as tx:
            update = UsageUpdate(session_id=session_id, delta=delta, cost_total_usd=cost_total_usd)
            return add_usage(tx, [update])[session_id]


_USAGE_SQL = (
    "UPDATE sessions SET model_calls = model_calls + ?, errors = errors + ?, "
    "input_tokens = input_tokens + ?, output_tokens = output_tokens + ?, "
    "cost_usd = CASE WHEN ? IS NULL THEN cost_usd + ? ELSE ? END, updated_at = ? WHERE id = ?"
    " RETURNING objective_id, model_calls, errors, input_tokens, output_tokens, cost_usd"
)


def add_usage(tx: Tx, updates: Sequence[UsageUpdate]) -> dict[str, Usage]:
    """Apply ``updates`` in order; each session's counters after them. Each objective whose cost they changed
    gets one new sample of its total (``objective_cost``)."""
    cost_before: dict[str, float] = {}
    counters: dict[str, Usage] = {}
    objective_of: dict[str, str] = {}
    for update in updates:
        session_id, delta, total = update.session_id, update.delta, update.cost_total_usd
        if session_id not in cost_before:
            cost = tx.value("SELECT cost_usd FROM sessions WHERE id = ?", (session_id,))
            if cost is None:
                raise NotFoundError("session", session_id)
            cost_before[session_id] = cost
        objective_id, calls, errors, tokens_in, tokens_out, cost = tx.tuples(
            _USAGE_SQL,
            (
                delta.model_calls,
                delta.errors,
                delta.input_tokens,
                delta.output_tokens,
                total,
                delta.cost_usd,
                total,
                tx.now,
                session_id,
            ),
        )[0]
        objective_of[session_id] = objective_id
        counters[session_id] = Usage(
            model_calls=calls, errors=errors, input_tokens=tokens_in, output_tokens=tokens_out, cost_usd=cost
        )
    for objective_id in dict.fromkeys(objective_of[s] for s, u in counters.items() if u.cost_usd != cost_before[s]):
        tx.execute(
            "INSERT INTO objective_cost (objective_id, at, cost_usd)"
            " SELECT ?, ?, COALESCE(SUM(cost_usd), 0) FROM sessions WHERE objective_id = ?",
            (objective_id, tx.now, objective_id),
        )
    return counters


def _insert_session(
    tx: Tx,
    *,
    session_id: str,
    objective_id: str,
    role: SessionRole,
    agent: str,
    prompt: str,
    mode: SessionMode,
    parent_session_id: str | None = None,
    target_id: str | None = None,
    workspace_id: str | None = None,
    depends_on: tuple[str, ...] = (),
) -> int:
    """Insert a queued session; its number (``sessions.num``, its transcript's key base over ``SEQ_SPAN``)."""
    num = int(tx.value("SELECT COALESCE(MAX(num), 0) + 1 FROM sessions"))
    tx.execute(
        "INSERT INTO sessions (id, objective_id, role, agent, prompt, task, status, mode, target_id, workspace_id,"
        " parent_session_id, created_at, updated_at, num) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            session_id,
            objective_id,
            role,
            agent,
            prompt,
            oneline.task_of(prompt),  # what the rows show: computed once, so no row reads a long prompt
            SessionStatus.QUEUED,
            mode,
            target_id,
            workspace_id,
            parent_session_id,
            tx.now,
            tx.now,
            num,
        ),
    )
    tx.executemany(
        "INSERT INTO session_deps (session_id, depends_on) VALUES (?, ?)", [(session_id, d) for d in depends_on]
    )
    tx.event(
        "session_created",
        objective_id=objective_id,
        session_id=session_id,
        role=role,
        agent=agent,
        depends_on=list(depends_on),
    )
    return num
