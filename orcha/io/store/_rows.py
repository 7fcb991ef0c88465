"""Rows to domain values: one function per table, the only place that knows both shapes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from orcha.io.store._db import Row
from orcha.model import (
    Artifact,
    Audience,
    Event,
    Note,
    Objective,
    ObjectiveStatus,
    PRFeedback,
    PRState,
    PullRequest,
    Question,
    QuestionStatus,
    Session,
    SessionMode,
    SessionRole,
    SessionStatus,
    Target,
    TargetKind,
    TargetStatus,
    Usage,
    Workspace,
    WorkspaceKind,
)

SEQ_SPAN = 2**32
"""A transcript line's key is its session's ``num * SEQ_SPAN`` + its seq (see ``_transcripts.py``)."""


def transcript_seq_sql(table: str) -> str:
    """SQL for the seq of the last line of the session row ``table`` (0 without lines): one reverse seek on
    the transcript's key, so a commit of lines never rewrites the session rows it touches."""
    low = f"{table}.num * {SEQ_SPAN}"
    return (
        f"COALESCE((SELECT key FROM transcript_lines WHERE key > {low} AND key < {low} + {SEQ_SPAN}"
        f" ORDER BY key DESC LIMIT 1) - {low}, 0)"
    )


NOT_ENDED = "(" + ", ".join(f"'{s}'" for s in SessionStatus if not s.is_terminal) + ")"
"""The statuses of a session that has not ended, for ``status IN {NOT_ENDED}``: a few lookups in an index on
``(objective_id, status)`` or ``(status)``, where ``NOT IN`` the ended ones reads every session of the
objective (or of history) to skip the ended."""

SESSION_COLUMNS = (
    "id, objective_id, role, agent, prompt, status, mode, target_id, workspace_id, parent_session_id, "
    "provider_session_id, attach_command, pause_reason, status_reason, model_calls, errors, input_tokens, "
    f"output_tokens, cost_usd, {transcript_seq_sql('sessions')} AS transcript_seq, pane_offset, waiting_question, "
    "labels, created_at, updated_at, task, started_at, ended_at, "
    "(SELECT now FROM session_now n WHERE n.session_id = sessions.id) AS now, "
    "(SELECT last_output_at FROM session_now n WHERE n.session_id = sessions.id) AS last_output_at, "
    "(SELECT branch FROM workspaces w WHERE w.id = sessions.workspace_id) AS branch, "
    "(SELECT group_concat(depends_on, ' ') FROM session_deps d WHERE d.session_id = sessions.id) AS depends_on"
)
"""A session row's columns, in the order :func:`session` takes them (its dependencies in one, space-separated
in key order: ids have no spaces)."""

ROLES = {str(role): role for role in SessionRole}
STATUSES = {str(status): status for status in SessionStatus}
_MODES = {str(mode): mode for mode in SessionMode}


def session(values: Sequence[Any]) -> Session:
    """A session from a row of :data:`SESSION_COLUMNS`, by position (the hottest read in orcha: a session is
    read back at every move)."""
    (
        id_, objective_id, role, agent, prompt, status, mode, target_id, workspace_id, parent_session_id,
        provider_session_id, attach_command, pause_reason, status_reason, model_calls, errors, input_tokens,
        output_tokens, cost_usd, transcript_seq, pane_offset, waiting_question,
        labels, created_at, updated_at, task, started_at, ended_at, now, last_output_at, branch, depends_on,
    ) = values  # fmt: skip
    return Session(
        id=id_,
        objective_id=objective_id,
        role=ROLES[role],
        agent=agent,
        prompt=prompt,
        status=STATUSES[status],
        mode=_MODES[mode],
        target_id=target_id,
        workspace_id=workspace_id,
        parent_session_id=parent_session_id,
        depends_on=tuple(depends_on.split(" ")) if depends_on else (),
        provider_session_id=provider_session_id,
        attach_command=attach_command,
        pause_reason=pause_reason,
        status_reason=status_reason,
        usage=Usage(
            model_calls=model_calls,
            errors=errors,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cost_usd=cost_usd,
        ),
        transcript_seq=transcript_seq,
        pane_offset=pane_offset,
        waiting_question=waiting_question,
        labels=tuple(json.loads(labels)) if labels and labels != "[]" else (),
        created_at=created_at,
        updated_at=updated_at,
        task=task,
        now=now,
        last_output_at=last_output_at,
        started_at=started_at,
        ended_at=ended_at,
        branch=branch,
    )


def objective(row: Row) -> Objective:
    return Objective(
        id=row["id"],
        title=row["title"],
        prompt=row["prompt"],
        agent=row["agent"],
        status=ObjectiveStatus(row["status"]),
        repo=row["repo"],
        base_branch=row["base_branch"],
        summary=row["summary"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def usage(row: Row) -> Usage:
    """A session's counters, from any row that selects them."""
    return Usage(
        model_calls=row["model_calls"],
        errors=row["errors"],
        input_tokens=row["input_tokens"],
        output_tokens=row["output_tokens"],
        cost_usd=row["cost_usd"],
    )


def target(row: Row) -> Target:
    return Target(
        id=row["id"],
        name=row["name"],
        kind=TargetKind(row["kind"]),
        host=row["host"],
        user=row["user"],
        port=row["port"],
        work_root=row["work_root"],
        capacity_sessions=row["capacity_sessions"],
        status=TargetStatus(row["status"]),
        metadata=json.loads(row["metadata"]),
        status_reason=row["status_reason"],
        host_key=row["host_key"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def workspace(row: Row) -> Workspace:
    return Workspace(
        id=row["id"],
        objective_id=row["objective_id"],
        kind=WorkspaceKind(row["kind"]),
        target_id=row["target_id"],
        path=row["path"],
        repo=row["repo"],
        base_branch=row["base_branch"],
        branch=row["branch"],
        created_at=row["created_at"],
    )


def pull_request(row: Row) -> PullRequest:
    return PullRequest(
        id=row["id"],
        objective_id=row["objective_id"],
        session_id=row["session_id"],
        url=row["url"],
        number=row["number"],
        branch=row["branch"],
        base=row["base"],
        title=row["title"],
        state=PRState(row["state"]),
        head_sha=row["head_sha"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def pr_feedback(row: Row) -> PRFeedback:
    return PRFeedback(
        id=row["id"],
        pr_id=row["pr_id"],
        external_id=row["external_id"],
        kind=row["kind"],
        author=row["author"],
        body=row["body"],
        follow_up_session_id=row["follow_up_session_id"],
        created_at=row["created_at"],
    )


def question(row: Row) -> Question:
    return Question(
        id=row["id"],
        objective_id=row["objective_id"],
        asked_by=row["asked_by"],
        audience=Audience(row["audience"]),
        text=row["text"],
        status=QuestionStatus(row["status"]),
        answer=row["answer"],
        created_at=row["created_at"],
        answered_at=row["answered_at"],
    )


def artifact(row: Row) -> Artifact:
    return Artifact(
        id=row["id"],
        objective_id=row["objective_id"],
        session_id=row["session_id"],
        name=row["name"],
        uri=row["uri"],
        kind=row["kind"],
        created_at=row["created_at"],
    )


def note(row: Row) -> Note:
    return Note(
        id=row["id"],
        objective_id=row["objective_id"],
        session_id=row["session_id"],
        text=row["text"],
        created_at=row["created_at"],
    )


def event(row: Row) -> Event:
    return Event(
        id=row["id"],
        ts=row["ts"],
        kind=row["kind"],
        objective_id=row["objective_id"],
        session_id=row["session_id"],
        target_id=row["target_id"],
        data=json.loads(row["data"]),
    )
