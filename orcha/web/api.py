"""The JSON API under ``/api``: every route reads through the read-only gateway or calls an operation."""

from __future__ import annotations

import getpass
import re
from collections.abc import Sequence
from typing import Any, TypeVar

from quart import Blueprint, current_app, request

from orcha import oneline
from orcha.actors.messages import Disable, Drain, Enable, RunDoctor
from orcha.actors.operations import Operations
from orcha.errors import InvalidInputError, NotFoundError
from orcha.io.store import MAX_PAGE
from orcha.model import ObjectiveStatus, PRState, QuestionStatus, TargetKind
from orcha.store_port import StorePort
from orcha.validation import (
    BRANCH_LENGTH,
    ID_LENGTH,
    INT64_MAX,
    LONG_TEXT_LENGTH,
    NAME_LENGTH,
    PATH_LENGTH,
    TEXT_LENGTH,
    check_text,
    printable,
    validate_object,
)
from orcha.views import HISTORY_PAGE, MAX_HISTORY_PAGE
from orcha.web.context import WebContext
from orcha.web.json import loads_body, to_data

api = Blueprint("api", __name__, url_prefix="/api")

T = TypeVar("T")
QUERY_LENGTH = 4096
MAX_CAPACITY = 1000
MAX_LABELS = 20


# --- the shapes of the input: one source for validation and for the OpenAPI document -----------------------


def _str(max_length: int, *, required: bool = False, **extra: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string" if required else ["string", "null"], "maxLength": max_length}
    if required:
        schema["minLength"] = 1
    return {**schema, **extra}


def _int(minimum: int, maximum: int) -> dict[str, Any]:
    return {"type": ["integer", "null"], "minimum": minimum, "maximum": maximum}


def _object(required: tuple[str, ...] = (), **properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": list(required), "properties": properties, "additionalProperties": False}


def _values(enum_type: Any) -> list[str]:
    return [str(v) for v in enum_type]


BODIES: dict[str, dict[str, Any]] = {
    "objective": _object(
        ("title", "agent"),
        title=_str(NAME_LENGTH * 2, required=True),
        prompt=_str(LONG_TEXT_LENGTH, description="default: the title"),
        agent=_str(NAME_LENGTH, required=True),
        repo=_str(PATH_LENGTH),
        base_branch=_str(BRANCH_LENGTH),
    ),
    "reason": _object(reason=_str(TEXT_LENGTH)),
    "steer": _object(("text",), text=_str(LONG_TEXT_LENGTH, required=True)),
    "resume": _object(text=_str(LONG_TEXT_LENGTH)),
    "answer": _object(("answer",), answer=_str(LONG_TEXT_LENGTH, required=True)),
    "target": _object(
        ("name", "work_root"),
        name=_str(NAME_LENGTH, required=True),
        kind=_str(8, enum=_values(TargetKind), description="default ssh (which needs host)"),
        host=_str(255),
        user=_str(NAME_LENGTH, description="ssh: the login name there (default: yours here, recorded on the target)"),
        port=_int(1, 65535),
        work_root=_str(PATH_LENGTH, required=True),
        capacity_sessions=_int(0, MAX_CAPACITY),
        identity_file=_str(PATH_LENGTH, description="ssh: the private key to log in with (else the agent's keys)"),
        known_hosts=_str(PATH_LENGTH, description="ssh: the known_hosts file (default ~/.ssh/known_hosts)"),
        trust_on_first_use={
            "type": ["boolean", "null"],
            "enum": [True, False, None],
            "description": "ssh: record the host key seen first when known_hosts has none (a changed key is refused)",
        },
        bootstrap=_str(TEXT_LENGTH, description="a shell command run on the target before its first doctor"),
        labels={
            "type": ["array", "null"],
            "maxItems": MAX_LABELS,
            "items": {"type": "string", "minLength": 1, "maxLength": NAME_LENGTH},
            "description": "kinds of machine this is (gpu, big): sessions may ask for targets with them",
        },
    ),
    "empty": _object(),
}
"""Every POST body: unknown fields are refused, strings bounded, integers bounded, null means absent."""
QUERY: dict[str, dict[str, Any]] = {
    "limit": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 200},
    "after": {"type": "integer", "minimum": 0, "maximum": INT64_MAX, "default": 0},
    "objective_status": {"type": "string", "enum": _values(ObjectiveStatus)},
    "question_status": {"type": "string", "enum": _values(QuestionStatus)},
    "pr_state": {"type": "string", "enum": _values(PRState)},
    "objective_id": {"type": "string", "maxLength": ID_LENGTH},
    "history_limit": {"type": "integer", "minimum": 0, "maximum": MAX_HISTORY_PAGE, "default": HISTORY_PAGE},
    "history_before": {"type": "string", "maxLength": ID_LENGTH},
}
"""Every query parameter's schema (``limit`` of ``/api/objectives`` shares the bounds of a transcript page)."""
PATH_PARAMETER = {"type": "string", "maxLength": ID_LENGTH}


def context() -> WebContext:
    ctx: WebContext = current_app.config["ORCHA"]
    return ctx


def orch() -> Operations:
    return context().operations


def guard(blueprint: Blueprint) -> None:
    """Refuse hostile query strings and path ids on ``blueprint`` before any view runs."""

    @blueprint.before_request
    async def _hostile() -> None:
        for name, value in (request.view_args or {}).items():
            if isinstance(value, str) and (len(value) > ID_LENGTH or "\x00" in value):
                raise NotFoundError(name.removesuffix("_id"), printable(value, ID_LENGTH))
        for name, value in request.args.items(multi=True):
            field = printable(name, 40)
            for part in (name, value):
                check_text(part, field)
                if len(part) > QUERY_LENGTH:
                    raise InvalidInputError(f"query parameter {field!r} is longer than {QUERY_LENGTH}", field=field)


guard(api)


async def json_body(shape: str, subject: str) -> dict[str, Any]:
    """The request body as a JSON object valid for ``BODIES[shape]``, or a 400 naming what is wrong with it."""
    data = await request.get_data(as_text=False)
    raw = data.encode() if isinstance(data, str) else data
    if not raw.strip():
        body: Any = {}
    else:
        body = loads_body(raw)
    if not isinstance(body, dict):
        raise InvalidInputError("the body must be a JSON object")
    return validate_object(BODIES[shape], body, subject=subject)


def text(body: dict[str, Any], name: str, *, default: str | None = None) -> str | None:
    """A field of a validated body: absent and null are ``default``."""
    value = body.get(name)
    return default if value is None else str(value)


def integer(body: dict[str, Any], name: str, *, default: int | None = None) -> int | None:
    value = body.get(name)
    return default if value is None else int(value)


_INTEGER = re.compile(r"-?[0-9]{1,30}")


def parse_int(raw: str, name: str, *, minimum: int, maximum: int, what: str) -> int:
    """A decimal integer of ASCII digits within bounds, or a 400 naming ``name``."""
    if not _INTEGER.fullmatch(raw):
        raise InvalidInputError(f"{what} must be an integer", field=name)
    value = int(raw)
    if not minimum <= value <= maximum:
        raise InvalidInputError(f"{what} must be between {minimum} and {maximum}", field=name)
    return value


def query_int(name: str, default: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    schema = QUERY[name]
    return parse_int(raw, name, minimum=schema["minimum"], maximum=schema["maximum"], what=f"query parameter {name!r}")


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
    body = await json_body("objective", "an objective")
    title = text(body, "title") or ""
    if text(body, "base_branch") is not None and not text(body, "repo"):
        raise InvalidInputError("'base_branch' needs 'repo': it is the branch of that repository", field="base_branch")
    objective, manager = await orch().create_objective(
        title=title,
        prompt=text(body, "prompt") or title,
        agent=text(body, "agent") or "",
        repo=text(body, "repo"),
        base_branch=text(body, "base_branch"),
    )
    return {**to_data(objective), "manager_session_id": manager.id}, 201


@api.get("/objectives")
async def list_objectives() -> dict[str, Any]:
    status = query_enum("status", ObjectiveStatus)
    limit = query_int("limit", 200)
    items = await context().read(lambda s: s.list_objectives(status=status, limit=limit))
    return {"items": to_data(items)}


@api.get("/objectives/<objective_id>")
async def get_objective(objective_id: str) -> dict[str, Any]:
    def read(s: StorePort) -> dict[str, Any]:
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


@api.get("/objectives/<objective_id>/timeline")
async def objective_timeline(objective_id: str) -> dict[str, Any]:
    return to_data(await context().read(lambda s: s.objective_timeline(objective_id)))


@api.post("/objectives/<objective_id>/cancel")
async def cancel_objective(objective_id: str) -> dict[str, Any]:
    body = await json_body("reason", "canceling an objective")
    reason = text(body, "reason") or "canceled by the user"
    return to_data(await orch().cancel_objective(objective_id, reason))


# --- dashboard and sessions -------------------------------------------------------------------------------


@api.get("/dashboard")
async def dashboard() -> dict[str, Any]:
    limit = query_int("history_limit", HISTORY_PAGE)
    before = request.args.get("history_before") or None
    if before is not None and len(before) > ID_LENGTH:
        raise InvalidInputError(f"history_before is at most {ID_LENGTH} characters", field="history_before")
    return to_data(await context().read(lambda s: s.dashboard(history_limit=limit, history_before=before)))


@api.get("/sessions/<session_id>")
async def get_session(session_id: str) -> dict[str, Any]:
    return to_data(await context().read(lambda s: s.get_session(session_id)))


@api.get("/sessions/<session_id>/messages")
async def session_messages(session_id: str) -> dict[str, Any]:
    after = query_int("after", 0)
    limit = query_int("limit", 200)
    page = await context().read(lambda s: s.read_transcript(session_id, after=after, limit=limit))
    items = [
        {"seq": e.seq, "kind": str(e.kind), "body": e.body, "ts": e.ts, "summary": summary}
        for e, summary in zip(page.items, oneline.summaries(page.items), strict=True)
    ]
    return {"items": items, "next_after": page.next_after}


@api.post("/sessions/<session_id>/steer")
async def steer(session_id: str) -> dict[str, Any]:
    body = await json_body("steer", "steering")
    return to_data(await orch().steer(session_id, text(body, "text") or ""))


@api.post("/sessions/<session_id>/cancel")
async def cancel_session(session_id: str) -> dict[str, Any]:
    body = await json_body("reason", "canceling a session")
    reason = text(body, "reason") or "canceled by the user"
    return to_data(await orch().cancel_session(session_id, reason))


@api.post("/sessions/<session_id>/resume")
async def resume_session(session_id: str) -> dict[str, Any]:
    body = await json_body("resume", "resuming")
    return to_data(await orch().resume_session(session_id, text(body, "text")))


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
    limit = query_int("limit", 200)
    items = await context().read(lambda s: s.list_questions(status=status, objective_id=objective_id, limit=limit + 1))
    return _newest_page(items, limit)


@api.post("/questions/<question_id>/answer")
async def answer_question(question_id: str) -> dict[str, Any]:
    body = await json_body("answer", "an answer")
    return to_data(await orch().answer_question(question_id, text(body, "answer") or ""))


@api.get("/prs")
async def list_prs() -> dict[str, Any]:
    state = query_enum("state", PRState)
    objective_id = request.args.get("objective_id") or None
    limit = query_int("limit", 200)
    items = await context().read(
        lambda s: s.list_pull_requests(objective_id=objective_id, state=state, limit=limit + 1)
    )
    return _newest_page(items, limit)


def _newest_page(items: Sequence[Any], limit: int) -> dict[str, Any]:
    """The newest ``limit`` of ``items`` (read one more than that, oldest first), and whether older ones exist."""
    return {"items": to_data(items[-limit:]), "more": len(items) > limit}


# --- targets ----------------------------------------------------------------------------------------------


async def _targets_with_load() -> list[dict[str, Any]]:
    def read(s: StorePort) -> list[dict[str, Any]]:
        loads = s.target_loads()
        return [{**to_data(t), "load": loads.get(t.id, 0)} for t in s.list_targets()]

    return await context().read(read)


@api.get("/targets")
async def list_targets() -> dict[str, Any]:
    return {"items": await _targets_with_load()}


@api.post("/targets")
async def add_target() -> tuple[dict[str, Any], int]:
    body = await json_body("target", "a target")
    kind = TargetKind(text(body, "kind") or "ssh")
    host = text(body, "host")
    if kind is TargetKind.SSH and not (host or "").strip():
        raise InvalidInputError("an ssh target needs 'host'", field="host")
    metadata: dict[str, Any] = {
        k: text(body, k) for k in ("identity_file", "known_hosts", "bootstrap") if body.get(k) is not None
    }
    if body.get("trust_on_first_use") is not None:
        metadata["trust_on_first_use"] = bool(body["trust_on_first_use"])
    if body.get("labels"):
        metadata["labels"] = [str(label) for label in body["labels"]]
    reply = await orch().add_target(
        name=text(body, "name") or "",
        kind=kind,
        host=host,
        user=text(body, "user") or (_login_name() if kind is TargetKind.SSH else None),
        port=integer(body, "port"),
        work_root=text(body, "work_root") or "",
        capacity_sessions=integer(body, "capacity_sessions", default=2) or 0,
        metadata=metadata,
    )
    return {"target": to_data(reply.target), "doctor": _report(reply.report)}, 201


def _login_name() -> str | None:
    """The user name an SSH target without ``user`` logs in as (recorded on it): this machine's login name."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no name for this uid: asyncssh then picks the local user name itself
        return None


def _report(report: Any) -> dict[str, Any] | None:
    if report is None:
        return None
    return {
        "ok": report.ok,
        "missing": report.missing,
        "checks": to_data(report.checks),
        "host_key": report.host_key,
    }


async def _target_action(target_id: str, message: Any) -> dict[str, Any]:
    await json_body("empty", "a target action")  # takes no fields
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
