"""Workspaces, pull requests and their feedback, questions, artifacts, notes and the audit events."""

from __future__ import annotations

from typing import Any

import apsw

from orcha import ids
from orcha.effects import EffectKey
from orcha.errors import ConflictError, InvalidInputError, NotFoundError
from orcha.io.store import _rows
from orcha.io.store._db import Database, Tx
from orcha.io.store._effects import remember, replayed
from orcha.io.store._sessions import load_objective
from orcha.model import (
    Artifact,
    Audience,
    Event,
    Note,
    PRFeedback,
    PRState,
    PullRequest,
    Question,
    QuestionStatus,
    Workspace,
    WorkspaceKind,
)


def _newest(tx: Tx, table: str, clauses: list[str], params: list[Any], limit: int | None) -> list[dict[str, Any]]:
    """``table``'s rows matching ``clauses``, oldest first; with ``limit``, the newest ``limit`` of them."""
    where = " AND ".join(clauses)
    if limit is None:
        return tx.rows(f"SELECT * FROM {table} WHERE {where} ORDER BY created_at, rowid", params)
    newest = tx.rows(
        f"SELECT * FROM {table} WHERE {where} ORDER BY created_at DESC, rowid DESC LIMIT ?", [*params, limit]
    )
    return newest[::-1]


def _one(tx: Tx, kind: str, table: str, ident: str) -> dict[str, Any]:
    row = tx.row(f"SELECT * FROM {table} WHERE id = ?", (ident,))
    if row is None:
        raise NotFoundError(kind, ident)
    return row


def _check_session_in(tx: Tx, session_id: str | None, objective_id: str) -> None:
    if session_id is None:
        return
    owner = tx.value("SELECT objective_id FROM sessions WHERE id = ?", (session_id,))
    if owner is None:
        raise NotFoundError("session", session_id)
    if owner != objective_id:
        raise InvalidInputError(f"session {session_id} is not in objective {objective_id}", field="session_id")


class RecordsMixin:
    _db: Database

    # --- workspaces ---------------------------------------------------------------------------------------

    def create_workspace(
        self,
        *,
        objective_id: str,
        kind: WorkspaceKind,
        target_id: str | None = None,
        path: str | None = None,
        repo: str | None = None,
        base_branch: str | None = None,
        branch: str | None = None,
    ) -> Workspace:
        workspace_id = ids.new_id("workspace")
        with self._db.write() as tx:
            load_objective(tx, objective_id)
            tx.execute(
                "INSERT INTO workspaces (id, objective_id, kind, target_id, path, repo, base_branch, branch,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (workspace_id, objective_id, kind, target_id, path, repo, base_branch, branch, tx.now),
            )
            tx.event("workspace_created", objective_id=objective_id, target_id=target_id, kind=kind, path=path)
            return _rows.workspace(_one(tx, "workspace", "workspaces", workspace_id))

    def place_workspace(self, workspace_id: str, *, target_id: str, path: str, branch: str | None) -> Workspace:
        """Record where a workspace was prepared (its target, its path) and its branch."""
        with self._db.write() as tx:
            workspace = _rows.workspace(_one(tx, "workspace", "workspaces", workspace_id))
            tx.execute(
                "UPDATE workspaces SET target_id = ?, path = ?, branch = COALESCE(?, branch) WHERE id = ?",
                (target_id, path, branch, workspace_id),
            )
            tx.event(
                "workspace_prepared",
                objective_id=workspace.objective_id,
                target_id=target_id,
                path=path,
                branch=branch,
                workspace_id=workspace_id,
            )
            return _rows.workspace(_one(tx, "workspace", "workspaces", workspace_id))

    def prunable_workspaces(self) -> list[Workspace]:
        """Prepared workspaces no live session needs: all their sessions ended (and, for a shared scratch,
        its objective too)."""
        with self._db.read() as tx:
            rows = tx.rows(
                """SELECT w.* FROM workspaces w JOIN objectives o ON o.id = w.objective_id
                   WHERE w.path IS NOT NULL
                     AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.status IN {not_ended}
                                     AND s.workspace_id = w.id)
                     AND (w.kind != 'shared_scratch' OR o.status != 'active')
                   ORDER BY w.created_at""".replace("{not_ended}", _rows.NOT_ENDED)
            )
            return [_rows.workspace(r) for r in rows]

    def forget_workspace_path(self, workspace_id: str, *, reason: str) -> None:
        """The checkout is gone (pruned): keep the row, drop its path."""
        with self._db.write() as tx:
            workspace = _rows.workspace(_one(tx, "workspace", "workspaces", workspace_id))
            tx.execute("UPDATE workspaces SET path = NULL WHERE id = ?", (workspace_id,))
            tx.event(
                "workspace_removed",
                objective_id=workspace.objective_id,
                target_id=workspace.target_id,
                workspace_id=workspace_id,
                path=workspace.path,
                reason=reason,
            )

    def get_workspace(self, workspace_id: str) -> Workspace:
        with self._db.read() as tx:
            return _rows.workspace(_one(tx, "workspace", "workspaces", workspace_id))

    def list_workspaces(self, objective_id: str) -> list[Workspace]:
        with self._db.read() as tx:
            rows = tx.rows("SELECT * FROM workspaces WHERE objective_id = ? ORDER BY created_at", (objective_id,))
            return [_rows.workspace(r) for r in rows]

    # --- pull requests ------------------------------------------------------------------------------------

    def create_pull_request(
        self,
        *,
        objective_id: str,
        session_id: str | None,
        url: str,
        number: int,
        branch: str,
        base: str,
        title: str = "",
        head_sha: str | None = None,
    ) -> PullRequest:
        pr_id = ids.new_id("pull_request")
        with self._db.write() as tx:
            load_objective(tx, objective_id)
            _check_session_in(tx, session_id, objective_id)
            try:
                tx.execute(
                    "INSERT INTO pull_requests (id, objective_id, session_id, url, number, branch, base, title,"
                    " state, head_sha, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        pr_id,
                        objective_id,
                        session_id,
                        url,
                        number,
                        branch,
                        base,
                        title,
                        PRState.OPEN,
                        head_sha,
                        tx.now,
                        tx.now,
                    ),
                )
            except apsw.ConstraintError as exc:
                raise ConflictError(f"a pull request with url {url!r} is already recorded") from exc
            tx.event("pr_opened", objective_id=objective_id, session_id=session_id, url=url, branch=branch)
            return _rows.pull_request(_one(tx, "pull request", "pull_requests", pr_id))

    def get_pull_request(self, pr_id: str) -> PullRequest:
        with self._db.read() as tx:
            return _rows.pull_request(_one(tx, "pull request", "pull_requests", pr_id))

    def list_pull_requests(
        self, *, objective_id: str | None = None, state: PRState | None = None, limit: int | None = None
    ) -> list[PullRequest]:
        """Oldest first; with ``limit``, only the newest that many (history is not read out whole)."""
        clauses, params = ["1"], []
        if objective_id is not None:
            clauses.append("objective_id = ?")
            params.append(objective_id)
        if state is not None:
            clauses.append("state = ?")
            params.append(str(state))
        with self._db.read() as tx:
            rows = _newest(tx, "pull_requests", clauses, params, limit)
            return [_rows.pull_request(r) for r in rows]

    def update_pull_request(
        self, pr_id: str, *, state: PRState | None = None, head_sha: str | None = None
    ) -> PullRequest:
        """Record what the forge says of a PR now (state, head); an unchanged PR writes no event."""
        with self._db.write() as tx:
            pr = _rows.pull_request(_one(tx, "pull request", "pull_requests", pr_id))
            new_state = state or pr.state
            new_head = head_sha or pr.head_sha
            if (new_state, new_head) != (pr.state, pr.head_sha):
                tx.execute(
                    "UPDATE pull_requests SET state = ?, head_sha = ?, updated_at = ? WHERE id = ?",
                    (new_state, new_head, tx.now, pr_id),
                )
                tx.event(
                    "pr_updated",
                    objective_id=pr.objective_id,
                    session_id=pr.session_id,
                    pr_id=pr_id,
                    state=new_state,
                    head_sha=new_head,
                )
            return _rows.pull_request(_one(tx, "pull request", "pull_requests", pr_id))

    def add_pr_feedback(self, *, pr_id: str, external_id: str, kind: str, author: str, body: str) -> PRFeedback | None:
        """Store a piece of review feedback once; ``None`` when ``external_id`` was already seen for this PR."""
        feedback_id = ids.new_id("pr_feedback")
        with self._db.write() as tx:
            pr = _rows.pull_request(_one(tx, "pull request", "pull_requests", pr_id))
            tx.execute(
                "INSERT OR IGNORE INTO pr_feedback (id, pr_id, external_id, kind, author, body, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (feedback_id, pr_id, external_id, kind, author, body, tx.now),
            )
            if not tx.changes():
                return None
            tx.event("pr_feedback", objective_id=pr.objective_id, pr_id=pr_id, external_id=external_id, kind=kind)
            return _rows.pr_feedback(_one(tx, "pr feedback", "pr_feedback", feedback_id))

    def set_feedback_follow_up(self, feedback_id: str, session_id: str) -> PRFeedback:
        with self._db.write() as tx:
            _one(tx, "pr feedback", "pr_feedback", feedback_id)
            tx.execute("UPDATE pr_feedback SET follow_up_session_id = ? WHERE id = ?", (session_id, feedback_id))
            return _rows.pr_feedback(_one(tx, "pr feedback", "pr_feedback", feedback_id))

    def list_pr_feedback(self, pr_id: str) -> list[PRFeedback]:
        with self._db.read() as tx:
            rows = tx.rows("SELECT * FROM pr_feedback WHERE pr_id = ? ORDER BY created_at, rowid", (pr_id,))
            return [_rows.pr_feedback(r) for r in rows]

    # --- questions ----------------------------------------------------------------------------------------

    def ask_question(
        self,
        *,
        objective_id: str,
        text: str,
        asked_by: str | None = None,
        audience: Audience = Audience.USER,
        effect: EffectKey | None = None,
    ) -> Question:
        """Open a question for the user (needs-user) or for the objective's manager; a replayed ``effect``
        returns the question it opened while that one is open."""
        if not text.strip():
            raise InvalidInputError("a question needs text", field="question")
        question_id = ids.new_id("question")
        with self._db.write() as tx:
            first = replayed(tx, effect, "ask_user")
            if first is not None:
                return _rows.question(_one(tx, "question", "questions", first))
            load_objective(tx, objective_id)
            _check_session_in(tx, asked_by, objective_id)
            tx.execute(
                "INSERT INTO questions (id, objective_id, asked_by, audience, text, status, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (question_id, objective_id, asked_by, audience, text, QuestionStatus.OPEN, tx.now),
            )
            tx.event(
                "question_opened",
                objective_id=objective_id,
                session_id=asked_by,
                question_id=question_id,
                audience=audience,
            )
            remember(tx, effect, "ask_user", question_id)
            return _rows.question(_one(tx, "question", "questions", question_id))

    def get_question(self, question_id: str) -> Question:
        with self._db.read() as tx:
            return _rows.question(_one(tx, "question", "questions", question_id))

    def close_question(self, question_id: str, status: QuestionStatus, *, answer: str | None = None) -> Question:
        """Answer or dismiss an open question; a closed question cannot be closed again (ConflictError)."""
        if status is QuestionStatus.OPEN:
            raise InvalidInputError("a question is closed as answered or dismissed", field="status")
        if status is QuestionStatus.ANSWERED and not (answer or "").strip():
            raise InvalidInputError("an answer must not be empty", field="answer")
        with self._db.write() as tx:
            question = _rows.question(_one(tx, "question", "questions", question_id))
            if question.status is not QuestionStatus.OPEN:
                raise ConflictError(f"question {question_id} is already {question.status}")
            tx.execute(
                "UPDATE questions SET status = ?, answer = ?, answered_at = ? WHERE id = ?",
                (status, answer, tx.now, question_id),
            )
            tx.event(
                "question_closed",
                objective_id=question.objective_id,
                session_id=question.asked_by,
                question_id=question_id,
                status=status,
            )
            return _rows.question(_one(tx, "question", "questions", question_id))

    def list_questions(
        self, *, status: QuestionStatus | None = None, objective_id: str | None = None, limit: int | None = None
    ) -> list[Question]:
        """Oldest first; with ``limit``, only the newest that many (history is not read out whole)."""
        clauses, params = ["1"], []
        if status is not None:
            clauses.append("status = ?")
            params.append(str(status))
        if objective_id is not None:
            clauses.append("objective_id = ?")
            params.append(objective_id)
        with self._db.read() as tx:
            rows = _newest(tx, "questions", clauses, params, limit)
            return [_rows.question(r) for r in rows]

    # --- artifacts and notes ------------------------------------------------------------------------------

    def add_artifact(
        self,
        *,
        objective_id: str,
        session_id: str | None,
        name: str,
        uri: str,
        kind: str = "file",
        effect: EffectKey | None = None,
    ) -> Artifact:
        """Record an artifact; a replayed ``effect`` returns the artifact it recorded."""
        if not name.strip() or not uri.strip():
            raise InvalidInputError("an artifact needs a name and a uri", field="name" if not name.strip() else "uri")
        artifact_id = ids.new_id("artifact")
        with self._db.write() as tx:
            first = replayed(tx, effect, "record_artifact")
            if first is not None:
                return _rows.artifact(_one(tx, "artifact", "artifacts", first))
            load_objective(tx, objective_id)
            _check_session_in(tx, session_id, objective_id)
            tx.execute(
                "INSERT INTO artifacts (id, objective_id, session_id, name, uri, kind, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (artifact_id, objective_id, session_id, name, uri, kind, tx.now),
            )
            tx.event("artifact_added", objective_id=objective_id, session_id=session_id, name=name)
            remember(tx, effect, "record_artifact", artifact_id)
            return _rows.artifact(_one(tx, "artifact", "artifacts", artifact_id))

    def list_artifacts(self, objective_id: str) -> list[Artifact]:
        with self._db.read() as tx:
            rows = tx.rows("SELECT * FROM artifacts WHERE objective_id = ? ORDER BY created_at", (objective_id,))
            return [_rows.artifact(r) for r in rows]

    def add_note(
        self, *, objective_id: str, session_id: str | None, text: str, effect: EffectKey | None = None
    ) -> Note:
        """Write a note; a replayed ``effect`` returns the note it wrote."""
        if not text.strip():
            raise InvalidInputError("a note needs text", field="text")
        note_id = ids.new_id("note")
        with self._db.write() as tx:
            first = replayed(tx, effect, "create_note")
            if first is not None:
                return _rows.note(_one(tx, "note", "notes", first))
            load_objective(tx, objective_id)
            _check_session_in(tx, session_id, objective_id)
            tx.execute(
                "INSERT INTO notes (id, objective_id, session_id, text, created_at) VALUES (?, ?, ?, ?, ?)",
                (note_id, objective_id, session_id, text, tx.now),
            )
            tx.event("note_added", objective_id=objective_id, session_id=session_id, note_id=note_id)
            remember(tx, effect, "create_note", note_id)
            return _rows.note(_one(tx, "note", "notes", note_id))

    def list_notes(self, objective_id: str) -> list[Note]:
        with self._db.read() as tx:
            rows = tx.rows("SELECT * FROM notes WHERE objective_id = ? ORDER BY created_at", (objective_id,))
            return [_rows.note(r) for r in rows]

    # --- events -------------------------------------------------------------------------------------------

    def record_event(
        self,
        kind: str,
        /,
        *,
        objective_id: str | None = None,
        session_id: str | None = None,
        target_id: str | None = None,
        **data: Any,
    ) -> int:
        """Append an audit event on its own (state changes record theirs in their own transaction)."""
        with self._db.write() as tx:
            return tx.event(kind, objective_id=objective_id, session_id=session_id, target_id=target_id, **data)

    def events_after(
        self, after: int = 0, *, limit: int = 500, objective_id: str | None = None, session_id: str | None = None
    ) -> list[Event]:
        """Audit events with ``id > after``, oldest first."""
        clauses: list[str] = ["id > ?"]
        params: list[object] = [after]
        if objective_id is not None:
            clauses.append("objective_id = ?")
            params.append(objective_id)
        if session_id is not None:
            clauses.append("session_id = ?")
            params.append(session_id)
        params.append(limit)
        with self._db.read() as tx:
            rows = tx.rows(f"SELECT * FROM events WHERE {' AND '.join(clauses)} ORDER BY id LIMIT ?", params)
            return [_rows.event(r) for r in rows]

    def latest_event_id(self) -> int:
        """The id of the newest audit event (0 when there is none): where a new live subscriber starts."""
        with self._db.read() as tx:
            return int(tx.value("SELECT COALESCE(MAX(id), 0) FROM events"))
