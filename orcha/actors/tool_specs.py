"""The tools' catalogue: each tool's name, description and JSON schema, and which roles may call it.

MCP lists these (``tools/list``); :class:`orcha.actors.tools.SessionTools` validates every call against them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from orcha.model import SessionRole, WorkspaceKind
from orcha.validation import (
    BRANCH_LENGTH,
    ID_LENGTH,
    INT64_MAX,
    LONG_TEXT_LENGTH,
    MAX_LIST,
    NAME_LENGTH,
    PATH_LENGTH,
    TEXT_LENGTH,
    validate_object,
)

_STR_LIST = {"type": "array", "items": {"type": "string", "maxLength": ID_LENGTH}, "maxItems": MAX_LIST}


def _s(description: str, max_length: int = TEXT_LENGTH) -> dict[str, Any]:
    return {"type": "string", "maxLength": max_length, "description": description}


_SESSION = _s("A session id of your objective (ses_…), as list_sessions shows it.", ID_LENGTH)
_PR = _s("A pull request id of your objective (pr_…), as list_prs shows it.", ID_LENGTH)


def _schema(properties: Mapping[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"type": "object", "properties": dict(properties), "required": list(required), "additionalProperties": False}


@attrs.frozen(kw_only=True)
class ToolSpec:
    name: str
    description: str
    input_schema: Mapping[str, Any]
    read_only: bool = False


TOOL_SPECS: tuple[ToolSpec, ...] = (
    ToolSpec(
        name="spawn_session",
        description="Start a new session (a worker by default) in your objective. It is queued and started by "
        "the scheduler when its dependencies have completed and a target has room. Returns its session id.",
        input_schema=_schema(
            {
                "prompt": _s("What the session must do, in full.", LONG_TEXT_LENGTH),
                "agent": _s("Agent name (e.g. claude, codex). Default: yours.", NAME_LENGTH),
                "role": {"type": "string", "enum": ["worker", "manager"], "description": "Default worker."},
                "target": _s("Target name or id to pin the session to.", NAME_LENGTH),
                "labels": {
                    **_STR_LIST,
                    "description": "Labels its target must have (a kind of machine, e.g. gpu); default: any target.",
                },
                "depends_on": {**_STR_LIST, "description": "Session ids that must complete first."},
                "repo": _s("Repository to check out (default: the objective's).", PATH_LENGTH),
                "base_branch": _s("Branch to start from (default: main).", BRANCH_LENGTH),
                "workspace_kind": {
                    "type": "string",
                    "enum": [str(k) for k in WorkspaceKind],
                    "description": "isolated (default: a new branch), shared_scratch (one checkout for the "
                    "objective, one writer at a time) or pr_branch.",
                },
            },
            ("prompt",),
        ),
    ),
    ToolSpec(
        name="ask_user",
        description="Ask the human user a question. It appears on the dashboard; the answer comes back to you.",
        input_schema=_schema(
            {"question": _s("The question, self-contained: the user sees only this.", LONG_TEXT_LENGTH)}, ("question",)
        ),
    ),
    ToolSpec(
        name="publish_pr",
        description="Push a session's branch (yours by default) and open a pull request for it.",
        input_schema=_schema(
            {
                "title": _s("The PR title.", NAME_LENGTH * 2),
                "body": _s("The PR description (markdown).", LONG_TEXT_LENGTH),
                "session": _s("Whose branch to publish (a session of your objective); default: yours."),
            },
            ("title",),
        ),
    ),
    ToolSpec(
        name="update_pr",
        description="Push new commits to a pull request's branch. A merged PR is refused; a closed PR asks the "
        "manager; force=true needs a reason, which is recorded.",
        input_schema=_schema(
            {
                "pr": _PR,
                "force": {"type": "boolean", "description": "Force-push (needs reason)."},
                "reason": _s("Why a force push is needed; recorded."),
            },
            ("pr",),
        ),
    ),
    ToolSpec(
        name="comment_pr",
        description="Comment on a pull request of your objective.",
        input_schema=_schema({"pr": _PR, "body": _s("The comment (markdown).", LONG_TEXT_LENGTH)}, ("pr", "body")),
    ),
    ToolSpec(
        name="create_note",
        description="Record a durable note on the objective (decisions, findings, hand-offs).",
        input_schema=_schema({"text": _s("The note.", LONG_TEXT_LENGTH)}, ("text",)),
    ),
    ToolSpec(
        name="record_artifact",
        description="Keep a durable output: a file of your checkout (path, copied so it outlives the workspace) "
        "or a link (url).",
        input_schema=_schema(
            {
                "name": _s("A short name for the output.", NAME_LENGTH),
                "path": _s("A file path relative to your checkout (give path or url).", PATH_LENGTH),
                "url": _s("A link (give path or url).", PATH_LENGTH),
            },
            ("name",),
        ),
    ),
    ToolSpec(
        name="mark_objective_done",
        description="Declare the objective done with a summary. Sessions still running are canceled.",
        input_schema=_schema({"summary": _s("What was achieved, for the user.", LONG_TEXT_LENGTH)}, ("summary",)),
    ),
    ToolSpec(
        name="cancel_session",
        description="Cancel a session of your objective, with a reason.",
        input_schema=_schema({"session": _SESSION, "reason": _s("Why; recorded.")}, ("session",)),
    ),
    ToolSpec(
        name="message_session",
        description="Send a message to a live worker of your objective (e.g. an answer the user gave you).",
        input_schema=_schema(
            {"session": _SESSION, "text": _s("The message; the worker gets it as a user turn.", LONG_TEXT_LENGTH)},
            ("session", "text"),
        ),
    ),
    ToolSpec(
        name="list_sessions",
        description="The sessions of your objective: id, role, agent, status, target, PR.",
        input_schema=_schema({}),
        read_only=True,
    ),
    ToolSpec(
        name="session_status",
        description="One session of your objective in detail (status, reason, usage).",
        input_schema=_schema({"session": _SESSION}, ("session",)),
        read_only=True,
    ),
    ToolSpec(
        name="read_transcript",
        description="Read a page of a session's transcript: lines with seq > after, at most limit (≤ 1000).",
        input_schema=_schema(
            {
                "session": _SESSION,
                "after": {
                    "type": "integer",
                    "minimum": 0,
                    "maximum": INT64_MAX,
                    "description": "Return lines after this seq (default 0).",
                },
                "limit": {"type": "integer", "minimum": 1, "maximum": 1000, "description": "At most this many (100)."},
            },
            ("session",),
        ),
        read_only=True,
    ),
    ToolSpec(
        name="list_questions",
        description="Open questions of your objective (for the user and for you).",
        input_schema=_schema({}),
        read_only=True,
    ),
    ToolSpec(
        name="list_prs",
        description="Pull requests of your objective with their state.",
        input_schema=_schema({}),
        read_only=True,
    ),
)
SPECS_BY_NAME = {spec.name: spec for spec in TOOL_SPECS}
MANAGER_ONLY = frozenset({"spawn_session", "mark_objective_done", "cancel_session", "message_session"})
"""Workers do their part and publish it; steering the team is the manager's."""


def tools_for_role(role: SessionRole) -> tuple[ToolSpec, ...]:
    """The tools a session of ``role`` may call."""
    if role is SessionRole.MANAGER:
        return TOOL_SPECS
    return tuple(spec for spec in TOOL_SPECS if spec.name not in MANAGER_ONLY)


def validate_arguments(spec: ToolSpec, arguments: Mapping[str, Any]) -> dict[str, Any]:
    """Check ``arguments`` against the tool's schema; raise :class:`InvalidInputError` naming the field."""
    return validate_object(spec.input_schema, arguments, subject=spec.name, noun="argument")
