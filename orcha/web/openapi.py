"""The OpenAPI 3.1 description of the HTTP API, served at ``/api/openapi.json``.

The body and query schemas are the ones :mod:`orcha.web.api` validates with (``BODIES``, ``QUERY``): unknown
fields are refused, strings and integers are bounded. Every error is ``{"error": {"code", "message", "field"?}}``.
"""

from __future__ import annotations

from typing import Any

from orcha import __version__
from orcha.web.api import BODIES, PATH_PARAMETER, QUERY

ERRORS = {
    400: "Invalid input: malformed JSON, an unknown or invalid field (named in `field`), a bad query parameter",
    401: "Unauthorized: no valid token (Authorization: Bearer, ?token= or the login cookie)",
    403: "Forbidden: a state-changing request from a foreign Origin",
    404: "Not found: an unknown id or route",
    405: "Method not allowed (see the Allow header)",
    409: "Conflict: the current state forbids the request (an illegal transition, a held lock)",
    413: "Payload too large: the body is over 4 MiB",
    415: "Unsupported media type: a state-changing request whose body is not application/json",
    421: "Misdirected request: the Host header does not name orcha",
}
_EVERY = (400, 401, 404, 405, 421)
"""Errors any operation can answer (bad query or path, no token, unknown id, wrong method, foreign Host)."""
_STATE_CHANGING = (403, 413, 415)


def _response(code: int) -> dict[str, Any]:
    return {"$ref": f"#/components/responses/E{code}"}


def _op(
    summary: str,
    *,
    body: str | None = None,
    body_required: bool = False,
    ok: int = 200,
    errors: tuple[int, ...] = (),
    params: tuple[dict[str, Any], ...] = (),
    stream: bool = False,
    post: bool = False,
) -> dict[str, Any]:
    content = {"text/event-stream": {"schema": {"type": "string"}}} if stream else {"application/json": {}}
    responses: dict[str, Any] = {str(ok): {"description": "OK", "content": content}}
    for code in sorted({*_EVERY, *errors, *(_STATE_CHANGING if post else ())}):
        responses[str(code)] = _response(code)
    operation: dict[str, Any] = {"summary": summary, "responses": responses}
    if body is not None:
        operation["requestBody"] = {
            "required": body_required,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{body}"}}},
        }
    if params:
        operation["parameters"] = list(params)
    return operation


def _path(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": PATH_PARAMETER}


def _query(name: str, schema: str | None = None) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": QUERY[schema or name]}


_LAST_EVENT_ID = {
    "name": "Last-Event-ID",
    "in": "header",
    "required": False,
    "description": "Resume after this id (what a reconnecting EventSource sends); takes precedence over ?after=",
    "schema": {"type": "string", "pattern": "^[0-9]{1,19}$"},
}

_SCHEMA_NAMES = {
    "objective": "NewObjective",
    "reason": "Reason",
    "steer": "Steer",
    "resume": "Resume",
    "answer": "Answer",
    "target": "NewTarget",
    "empty": "NoFields",
}


def _error_schema() -> dict[str, Any]:
    detail = {
        "type": "object",
        "required": ["code", "message"],
        "properties": {
            "code": {"type": "string"},
            "message": {"type": "string"},
            "field": {"type": "string", "description": "the offending field or parameter, when there is one"},
        },
        "additionalProperties": False,
    }
    return {"type": "object", "required": ["error"], "properties": {"error": detail}, "additionalProperties": False}


def document() -> dict[str, Any]:
    oid, sid, qid, tid = _path("objective_id"), _path("session_id"), _path("question_id"), _path("target_id")
    target_action = {
        "post": _op("Run a target action (takes no fields)", body="NoFields", errors=(409,), params=(tid,), post=True)
    }
    schemas: dict[str, Any] = {"Error": _error_schema()}
    schemas.update({_SCHEMA_NAMES[shape]: schema for shape, schema in BODIES.items()})
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "orcha",
            "version": __version__,
            "description": "Supervise a team of AI coding agents. Errors are {error: {code, message, field?}} "
            "(application/json), whatever the status.",
        },
        "components": {
            "schemas": schemas,
            "responses": {
                f"E{code}": {
                    "description": text,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                }
                for code, text in ERRORS.items()
            },
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
        "paths": {
            "/api/openapi.json": {"get": _op("This document")},
            "/api/objectives": {
                "post": _op(
                    "Create an objective and its manager session",
                    ok=201,
                    body="NewObjective",
                    body_required=True,
                    post=True,
                ),
                "get": _op("List objectives", params=(_query("status", "objective_status"), _query("limit"))),
            },
            "/api/objectives/{objective_id}": {
                "get": _op("An objective with its sessions, PRs, questions, artifacts and notes", params=(oid,))
            },
            "/api/objectives/{objective_id}/timeline": {
                "get": _op(
                    "The objective over time: {objective:{id,title,status,created_at,ended_at},"
                    " sessions:[{id,role,agent,task,status,started_at,ended_at}],"
                    " markers:[{kind: pr|question|answer, at, id, label, session_id}],"
                    " cost:[{at, cost_usd}] (cumulative, ascending, at most 500)}; bounded",
                    params=(oid,),
                )
            },
            "/api/objectives/{objective_id}/cancel": {
                "post": _op("Cancel an objective", body="Reason", errors=(409,), params=(oid,), post=True)
            },
            "/api/dashboard": {
                "get": _op(
                    "Live work in full (active objectives, their live and newest ended sessions, PRs, targets, open"
                    " questions) and one page of ended objectives (history.next_before pages on). A session row says"
                    " its task, what it is doing now (a one-line summary stored beside it), last_output_at,"
                    " started_at, ended_at and branch; never transcript content",
                    params=(_query("history_limit"), _query("history_before")),
                )
            },
            "/api/sessions/{session_id}": {"get": _op("A session", params=(sid,))},
            "/api/sessions/{session_id}/messages": {
                "get": _op(
                    "A page of the transcript: {items:[{seq,kind,body,ts,summary}], next_after}; summary is the"
                    " line in one line (a tool call as 'Edit src/app.py', a result as '✓ Edit' or"
                    " '✗ Edit: <error>'), or null",
                    params=(sid, _query("after"), _query("limit")),
                )
            },
            "/api/sessions/{session_id}/stream": {
                "get": _op(
                    "SSE of transcript lines (id = seq; honours Last-Event-ID and ?after=)",
                    stream=True,
                    params=(sid, _query("after"), _LAST_EVENT_ID),
                )
            },
            "/api/sessions/{session_id}/steer": {
                "post": _op(
                    "Send a message to a live session",
                    body="Steer",
                    body_required=True,
                    errors=(409,),
                    params=(sid,),
                    post=True,
                )
            },
            "/api/sessions/{session_id}/cancel": {
                "post": _op("Cancel a session", body="Reason", errors=(409,), params=(sid,), post=True)
            },
            "/api/sessions/{session_id}/resume": {
                "post": _op("Resume a paused session", body="Resume", errors=(409,), params=(sid,), post=True)
            },
            "/api/sessions/{session_id}/screen": {
                "get": _op("The live pane of a tmux session", errors=(409,), params=(sid,))
            },
            "/api/questions": {
                "get": _op(
                    "Questions (the newest ``limit``, oldest first; ``more`` when there are older ones)",
                    params=(
                        _query("status", "question_status"),
                        _query("objective_id", "objective_id"),
                        _query("limit"),
                    ),
                )
            },
            "/api/questions/{question_id}/answer": {
                "post": _op(
                    "Answer a question", body="Answer", body_required=True, errors=(409,), params=(qid,), post=True
                )
            },
            "/api/prs": {
                "get": _op(
                    "Pull requests (the newest ``limit``, oldest first; ``more`` when there are older ones)",
                    params=(_query("state", "pr_state"), _query("objective_id", "objective_id"), _query("limit")),
                )
            },
            "/api/targets": {
                "get": _op("Targets with load"),
                "post": _op(
                    "Register a target; its doctor runs at once",
                    ok=201,
                    body="NewTarget",
                    body_required=True,
                    errors=(409,),
                    post=True,
                ),
            },
            "/api/targets/{target_id}/doctor": target_action,
            "/api/targets/{target_id}/drain": target_action,
            "/api/targets/{target_id}/disable": target_action,
            "/api/targets/{target_id}/enable": target_action,
            "/api/events/stream": {
                "get": _op(
                    "SSE of state changes (audit events; id = event id)",
                    stream=True,
                    params=(_query("after"), _LAST_EVENT_ID),
                )
            },
        },
    }
