"""The JSON API under ``/api``: every route reads through the read-only gateway or calls an operation."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from quart import Blueprint, current_app, request

from orcha.actors.messages import Disable, Drain, Enable, RunDoctor
from orcha.actors.orchestrator import Orchestrator
from orcha.errors import InvalidInputError
from orcha.io.store import MAX_PAGE
from orcha.model import ObjectiveStatus, PRState, QuestionStatus, TargetKind
from orcha.web.context import WebContext
from orcha.web.json import to_data

api = Blueprint("api", __name__, url_prefix="/api")

T = TypeVar("T")


def context() -> WebContext:
    ctx: WebContext = current_app.config["ORCHA"]
    return ctx


def orch() -> Orchestrator:
    return context().orchestrator


async def json_body() -> dict[str, Any]:
    """The request body as a JSON object, or a 400 that says what is wrong with it."""
    raw = await request.get_data(as_text=True)
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise InvalidInputError(f"the body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise InvalidInputError("the body must be a JSON object")
    return body


def text(body: dict[str, Any], name: str, *, required: bool = True, default: str | None = None) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise InvalidInputError(f"{name!r} is required", field=name)
        return default
    if not isinstance(value, str):
        raise InvalidInputError(f"{name!r} must be a string", field=name)
    if required and not value.strip():
        raise InvalidInputError(f"{name!r} must not be empty", field=name)
    return value


def integer(body: dict[str, Any], name: str, *, default: int | None = None, minimum: int | None = None) -> int | None:
    value = body.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInputError(f"{name!r} must be an integer", field=name)
    if minimum is not None and value < minimum:
        raise InvalidInputError(f"{name!r} must be >= {minimum}", field=name)
    return value


def query_int(name: str, default: int, *, minimum: int = 0, maximum: int | None = None) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInputError(f"query parameter {name!r} must be an integer", field=name) from None
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
        raise InvalidInputError(f"query parameter {name!r} must be {bound}", field=name)
    return value


def query_enum(name: str, enum_type: type[T]) -> T | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    try:
        return enum_type(raw)  # type: ignore[call-arg]
    except ValueError:
        allowed = ", ".join(str(v) for v in enum_type)  # type: ignore[attr-defined]
        raise InvalidInputError(f"query parameter {name!r} must be one of {allowed}", field=name) from None


# --- objectives -------------------------------------------------------------------------------------------


@api.post("/objectives")
async def create_objective() -> tuple[dict[str, Any], int]:
    body = await json_body()
    title = text(body, "title") or ""
    objective, manager = await orch().create_objective(
        title=title,
        prompt=text(body, "prompt", required=False, default=title) or title,
        agent=text(body, "agent") or "",
        repo=text(body, "repo", required=False),
        base_branch=text(body, "base_branch", required=False),
    )
    return {**to_data(objective), "manager_session_id": manager.id}, 201


@api.get("/objectives")
async def list_objectives() -> dict[str, Any]:
    status = query_enum("status", ObjectiveStatus)
    limit = query_int("limit", 200, minimum=1, maximum=1000)
    items = await context().read(lambda s: s.list_objectives(status=status, limit=limit))
    return {"items": to_data(items)}


@api.get("/objectives/<objective_id>")
async def get_objective(objective_id: str) -> dict[str, Any]:
    def read(s: Any) -> dict[str, Any]:
        objective = s.get_objective(objective_id)
        return {
            **to_data(objective),
            "sessions": to_data(s.list_sessions(objective_id=objective_id)),
            "pull_requests": to_data(s.list_pull_requests(objective_id=objective_id)),
            "questions": to_data(s.list_questions(objective_id=objective_id)),
            "artifacts": to_data(s.list_artifacts(objective_id)),
            "notes": to_data(s.list_notes(objective_id)),
        }

    return await context().read(read)


@api.post("/objectives/<objective_id>/cancel")
async def cancel_objective(objective_id: str) -> dict[str, Any]:
    body = await json_body()
    reason = text(body, "reason", required=False, default="canceled by the user") or "canceled by the user"
    return to_data(await orch().cancel_objective(objective_id, reason))


# --- dashboard and sessions -------------------------------------------------------------------------------


@api.get("/dashboard")
async def dashboard() -> dict[str, Any]:
    return to_data(await context().read(lambda s: s.dashboard()))


@api.get("/sessions/<session_id>")
async def get_session(session_id: str) -> dict[str, Any]:
    return to_data(await context().read(lambda s: s.get_session(session_id)))


@api.get("/sessions/<session_id>/messages")
async def session_messages(session_id: str) -> dict[str, Any]:
    after = query_int("after", 0)
    limit = query_int("limit", 200, minimum=1, maximum=MAX_PAGE)
    page = await context().read(lambda s: s.read_transcript(session_id, after=after, limit=limit))
    items = [{"seq": e.seq, "kind": str(e.kind), "body": e.body, "ts": e.ts} for e in page.items]
    return {"items": items, "next_after": page.next_after}


@api.post("/sessions/<session_id>/steer")
async def steer(session_id: str) -> dict[str, Any]:
    body = await json_body()
    return to_data(await orch().steer(session_id, text(body, "text") or ""))


@api.post("/sessions/<session_id>/cancel")
async def cancel_session(session_id: str) -> dict[str, Any]:
    body = await json_body()
    reason = text(body, "reason", required=False, default="canceled by the user") or "canceled by the user"
    return to_data(await orch().cancel_session(session_id, reason))


@api.post("/sessions/<session_id>/resume")
async def resume_session(session_id: str) -> dict[str, Any]:
    body = await json_body()
    return to_data(await orch().resume_session(session_id, text(body, "text", required=False)))


@api.get("/sessions/<session_id>/screen")
async def session_screen(session_id: str) -> tuple[dict[str, Any], int]:
    session = await context().read(lambda s: s.get_session(session_id))
    screen = await orch().screen(session)
    return {"session_id": session.id, "attach_command": session.attach_command, "screen": screen}, 200


# --- questions, PRs ---------------------------------------------------------------------------------------


@api.get("/questions")
async def list_questions() -> dict[str, Any]:
    status = query_enum("status", QuestionStatus)
    objective_id = request.args.get("objective_id") or None
    items = await context().read(lambda s: s.list_questions(status=status, objective_id=objective_id))
    return {"items": to_data(items)}


@api.post("/questions/<question_id>/answer")
async def answer_question(question_id: str) -> dict[str, Any]:
    body = await json_body()
    return to_data(await orch().answer_question(question_id, text(body, "answer") or ""))


@api.get("/prs")
async def list_prs() -> dict[str, Any]:
    state = query_enum("state", PRState)
    objective_id = request.args.get("objective_id") or None
    items = await context().read(lambda s: s.list_pull_requests(objective_id=objective_id, state=state))
    return {"items": to_data(items)}


# --- targets ----------------------------------------------------------------------------------------------


async def _targets_with_load() -> list[dict[str, Any]]:
    def read(s: Any) -> list[dict[str, Any]]:
        loads = s.target_loads()
        return [{**to_data(t), "load": loads.get(t.id, 0)} for t in s.list_targets()]

    return await context().read(read)


@api.get("/targets")
async def list_targets() -> dict[str, Any]:
    return {"items": await _targets_with_load()}


@api.post("/targets")
async def add_target() -> tuple[dict[str, Any], int]:
    body = await json_body()
    kind_text = text(body, "kind", required=False, default="ssh") or "ssh"
    try:
        kind = TargetKind(kind_text)
    except ValueError:
        raise InvalidInputError("'kind' must be local or ssh", field="kind") from None
    metadata = {k: text(body, k, required=False) for k in ("identity_file", "bootstrap") if body.get(k) is not None}
    reply = await orch().add_target(
        name=text(body, "name") or "",
        kind=kind,
        host=text(body, "host", required=kind is TargetKind.SSH),
        user=text(body, "user", required=False),
        port=integer(body, "port", minimum=1),
        work_root=text(body, "work_root") or "",
        capacity_sessions=integer(body, "capacity_sessions", default=2, minimum=0) or 0,
        metadata=metadata,
    )
    return {"target": to_data(reply.target), "doctor": _report(reply.report)}, 201


def _report(report: Any) -> dict[str, Any] | None:
    if report is None:
        return None
    return {"ok": report.ok, "missing": report.missing, "checks": to_data(report.checks)}


async def _target_action(target_id: str, message: Any) -> dict[str, Any]:
    reply = await orch().target_request(target_id, message)
    return {"target": to_data(reply.target), "doctor": _report(reply.report)}


@api.post("/targets/<target_id>/doctor")
async def target_doctor(target_id: str) -> dict[str, Any]:
    return await _target_action(target_id, RunDoctor())


@api.post("/targets/<target_id>/drain")
async def target_drain(target_id: str) -> dict[str, Any]:
    return await _target_action(target_id, Drain())


@api.post("/targets/<target_id>/disable")
async def target_disable(target_id: str) -> dict[str, Any]:
    return await _target_action(target_id, Disable())


@api.post("/targets/<target_id>/enable")
async def target_enable(target_id: str) -> dict[str, Any]:
    return await _target_action(target_id, Enable())
