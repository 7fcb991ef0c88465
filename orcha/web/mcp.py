"""The sessions' MCP endpoint: ``/mcp/<session id>`` on the same hypercorn server as the API.

Built on the official ``mcp`` 2.x SDK's low-level ``Server`` (stateless streamable HTTP), so orcha owns the
tool list and its JSON schemas. :class:`orcha.web.mcp_router.Router` in front of it checks each request's
session secret; this module is imported only once the server runs (the SDK is slow to import, and the
dashboard does not wait for it: :class:`orcha.web.lazy_app.LazyApp`).

Each tool call runs :class:`~orcha.actors.tools.SessionTools` for that session: the same operations as the
HTTP API, acting only within the session's objective; refusals come back as MCP tool errors.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from mcp import types
from mcp.server.lowlevel.server import Server
from mcp.server.transport_security import TransportSecuritySettings

from orcha import __version__
from orcha.actors.tool_specs import tools_for_role
from orcha.ports import Db
from orcha.web.context import AgentAccess
from orcha.web.mcp_router import SESSION_KEY

log = logging.getLogger(__name__)

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
