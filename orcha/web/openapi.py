"""The OpenAPI 3.1 description of the HTTP API, served at ``/api/openapi.json``."""

from __future__ import annotations

from typing import Any

from orcha import __version__

_ERROR = {"$ref": "#/components/schemas/Error"}


def _op(
    summary: str,
    *,
    body: dict[str, Any] | None = None,
    ok: int = 200,
    errors: tuple[int, ...] = (404,),
    params: tuple[dict[str, Any], ...] = (),
    stream: bool = False,
) -> dict[str, Any]:
    responses: dict[str, Any] = {
        str(ok): {"description": "OK", "content": {"text/event-stream" if stream else "application/json": {}}}
    }
    for code in (400, *errors):
        responses[str(code)] = {"description": "error", "content": {"application/json": {"schema": _ERROR}}}
    operation: dict[str, Any] = {"summary": summary, "responses": responses}
    if body is not None:
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    if params:
        operation["parameters"] = list(params)
    return operation


def _obj(required: tuple[str, ...], **props: Any) -> dict[str, Any]:
    return {"type": "object", "required": list(required), "properties": props}


_S = {"type": "string"}
_I = {"type": "integer"}


def _path(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": _S}


def _query(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema}


def document() -> dict[str, Any]:
    oid, sid, qid, tid = _path("objective_id"), _path("session_id"), _path("question_id"), _path("target_id")
    target_action = {"post": _op("Run a target action", errors=(404, 409), params=(tid,))}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "orcha",
            "version": __version__,
            "description": "Supervise a team of AI coding agents. Errors are {error: {code, message, field?}}.",
        },
        "components": {
            "schemas": {"Error": _obj(("error",), error=_obj(("code", "message"), code=_S, message=_S, field=_S))},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
        "paths": {
            "/api/objectives": {
                "post": _op(
                    "Create an objective and its manager session",
                    ok=201,
                    errors=(),
                    body=_obj(("title", "agent"), title=_S, prompt=_S, agent=_S, repo=_S, base_branch=_S),
                ),
                "get": _op("List objectives", errors=(), params=(_query("status", _S), _query("limit", _I))),
            },
            "/api/objectives/{objective_id}": {
                "get": _op("An objective with its sessions, PRs, questions, artifacts and notes", params=(oid,))
            },
            "/api/objectives/{objective_id}/cancel": {
                "post": _op("Cancel an objective", errors=(404, 409), params=(oid,))
            },
            "/api/dashboard": {"get": _op("Small rows of everything; never transcript content", errors=())},
            "/api/sessions/{session_id}": {"get": _op("A session", params=(sid,))},
            "/api/sessions/{session_id}/messages": {
                "get": _op(
                    "A page of the transcript: {items:[{seq,kind,body,ts}], next_after}",
                    params=(sid, _query("after", _I), _query("limit", _I)),
                )
            },
            "/api/sessions/{session_id}/stream": {
                "get": _op(
                    "SSE of transcript lines (id = seq; honours Last-Event-ID and ?after=)",
                    stream=True,
                    params=(sid, _query("after", _I)),
                )
            },
            "/api/sessions/{session_id}/steer": {
                "post": _op(
                    "Send a message to a live session", errors=(404, 409), params=(sid,), body=_obj(("text",), text=_S)
                )
            },
            "/api/sessions/{session_id}/cancel": {"post": _op("Cancel a session", errors=(404, 409), params=(sid,))},
            "/api/sessions/{session_id}/resume": {
                "post": _op("Resume a paused session", errors=(404, 409), params=(sid,))
            },
            "/api/sessions/{session_id}/screen": {
                "get": _op("The live pane of a tmux session", errors=(404, 409), params=(sid,))
            },
            "/api/questions": {"get": _op("Questions", errors=(), params=(_query("status", _S),))},
            "/api/questions/{question_id}/answer": {
                "post": _op("Answer a question", errors=(404, 409), params=(qid,), body=_obj(("answer",), answer=_S))
            },
            "/api/prs": {"get": _op("Pull requests", errors=(), params=(_query("state", _S),))},
            "/api/targets": {
                "get": _op("Targets with load", errors=()),
                "post": _op(
                    "Register a target; its doctor runs at once",
                    ok=201,
                    errors=(409,),
                    body=_obj(
                        ("name", "work_root"),
                        name=_S,
                        kind=_S,
                        host=_S,
                        user=_S,
                        port=_I,
                        work_root=_S,
                        capacity_sessions=_I,
                        identity_file=_S,
                        bootstrap=_S,
                    ),
                ),
            },
            "/api/targets/{target_id}/doctor": target_action,
            "/api/targets/{target_id}/drain": target_action,
            "/api/targets/{target_id}/disable": target_action,
            "/api/targets/{target_id}/enable": target_action,
            "/api/events/stream": {
                "get": _op("SSE of state changes (audit events; id = event id)", errors=(), stream=True)
            },
        },
    }
