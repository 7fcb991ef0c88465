"""The sessions' MCP endpoint: ``/mcp/<session id>`` on the same hypercorn server as the API.

Built on the official ``mcp`` 2.x SDK's low-level ``Server`` (stateless streamable HTTP), so orcha owns the
tool list and its JSON schemas. A small ASGI router in front of it:

- routes the exact URL handed to the agent (``/mcp/<session id>``, no redirect) to the MCP app, and
  everything else to Quart; lifespan goes to both (``TrioDispatcherMiddleware``), so the SDK's session
  manager runs;
- refuses a request whose bearer secret is not the one minted for the session in its path.

Each tool call runs :class:`~orcha.actors.tools.SessionTools` for that session: the same operations as the
HTTP API, acting only within the session's objective; refusals come back as MCP tool errors.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from hypercorn.middleware.dispatcher import TrioDispatcherMiddleware
from mcp import types
from mcp.server.lowlevel.server import Server
from mcp.server.transport_security import TransportSecuritySettings

from orcha import __version__
from orcha.actors.tool_specs import tools_for_role
from orcha.ports import Db
from orcha.web.context import AgentAccess

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]
SESSION_KEY = "orcha.session_id"
INSTRUCTIONS = (
    "You are part of an orcha team. Use these tools to act on your objective: a manager spawns workers "
    "(spawn_session), watches them (list_sessions, session_status, read_transcript), asks the user when it must "
    "(ask_user) and calls mark_objective_done with a summary when the objective is met. Workers publish their "
    "work with publish_pr."
)


def _session_of(ctx: Any) -> str:
    request = getattr(ctx, "request", None)
    session_id = request.scope.get(SESSION_KEY) if request is not None else None
    if not session_id:
        raise RuntimeError("an MCP request reached orcha without its session")
    return str(session_id)


def build_mcp_app(db: Db, agents: AgentAccess) -> Any:
    """The Starlette app of the MCP server (its path is ``/mcp``; the router maps sessions onto it).

    The SDK's own DNS-rebinding guard is off: :class:`orcha.web.security.Gatekeeper` checks Host and Origin
    for every route, MCP included, with the same allowlist and orcha's JSON error bodies.
    """

    async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
        session = await db.run(lambda s: s.get_session(_session_of(ctx)))
        return types.ListToolsResult(
            tools=[
                types.Tool(
                    name=spec.name,
                    description=spec.description,
                    input_schema=dict(spec.input_schema),
                    annotations=types.ToolAnnotations(read_only_hint=spec.read_only, destructive_hint=False),
                )
                for spec in tools_for_role(session.role)
            ]
        )

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        session_id = _session_of(ctx)
        outcome = await agents.tools_for(session_id).call(params.name, dict(params.arguments or {}))
        structured = json.loads(json.dumps(dict(outcome.data), default=str)) if outcome.data else None
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=outcome.text)],
            structured_content=structured,
            is_error=outcome.is_error,
        )

    server = Server(
        "orcha", version=__version__, instructions=INSTRUCTIONS, on_list_tools=list_tools, on_call_tool=call_tool
    )
    security = TransportSecuritySettings(enable_dns_rebinding_protection=False)
    return server.streamable_http_app(streamable_http_path="/mcp", stateless_http=True, transport_security=security)


async def _json_error(send: Callable[[Any], Awaitable[None]], status: int, code: str, message: str) -> None:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


class Router:
    """``/mcp/<session id>`` → the MCP app (after the session's secret is checked), the rest → Quart."""

    def __init__(self, web: ASGIApp, mcp_app: ASGIApp, secret_of: Callable[[str], str | None]) -> None:
        self._web = web
        self._mcp = mcp_app
        self._secret_of = secret_of
        self._lifespan: Any = TrioDispatcherMiddleware({"/mcp": mcp_app, "": web})  # type: ignore[dict-item]

    async def __call__(
        self, scope: Scope, receive: Callable[[], Awaitable[Any]], send: Callable[[Any], Awaitable[None]]
    ) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(scope, receive, send)
            return
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not (path == "/mcp" or path.startswith("/mcp/")):
            await self._web(scope, receive, send)
            return
        session_id = path.removeprefix("/mcp").strip("/")
        if not session_id or "/" in session_id:
            await _json_error(send, 404, "not_found", "the MCP endpoint of a session is /mcp/<session id>")
            return
        expected = self._secret_of(session_id)
        presented = _bearer(scope)
        if expected is None:
            await _json_error(send, 404, "not_found", f"no live session {session_id!r} has an MCP endpoint")
            return
        if presented is None or not hmac.compare_digest(presented.encode(), expected.encode()):
            await _json_error(
                send, 401, "unauthorized", "this session's MCP secret is required (Authorization: Bearer)"
            )
            return
        inner = dict(scope, path="/mcp", raw_path=b"/mcp")
        inner[SESSION_KEY] = session_id
        await self._mcp(inner, receive, send)


def _bearer(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name.lower() == b"authorization":
            text = value.decode("latin-1")
            if text.lower().startswith("bearer "):
                return text[7:].strip()
    return None
