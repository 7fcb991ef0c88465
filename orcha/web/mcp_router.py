"""The router in front of the sessions' MCP endpoint: ``/mcp/<session id>`` → the MCP app, the rest → Quart.

- It routes the exact URL handed to the agent (``/mcp/<session id>``, no redirect) to the MCP app, and
  everything else to Quart; lifespan goes to both (``TrioDispatcherMiddleware``), so the SDK's session
  manager runs.
- It refuses a request whose bearer secret is not the one minted for the session in its path.

It imports nothing of the MCP SDK: the MCP app is a :class:`~orcha.web.lazy_app.LazyApp`, built once the
server runs (:mod:`orcha.web.mcp` builds it).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any

from hypercorn.middleware.dispatcher import TrioDispatcherMiddleware

from orcha.web.access import bearer_token
from orcha.web.asgi import ASGIApp, Receive, Scope, Send, send_json_error

SESSION_KEY = "orcha.session_id"
"""Where the router puts the session of an MCP request, in the scope the MCP app sees."""


class Router:
    """``/mcp/<session id>`` → the MCP app (after the session's secret is checked), the rest → Quart."""

    def __init__(self, web: ASGIApp, mcp_app: ASGIApp, secret_of: Callable[[str], str | None]) -> None:
        self._web = web
        self._mcp = mcp_app
        self._secret_of = secret_of
        self._lifespan: Any = TrioDispatcherMiddleware({"/mcp": mcp_app, "": web})  # type: ignore[dict-item]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(scope, receive, send)
            return
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not (path == "/mcp" or path.startswith("/mcp/")):
            await self._web(scope, receive, send)
            return
        session_id = path.removeprefix("/mcp").strip("/")
        if not session_id or "/" in session_id:
            await send_json_error(send, 404, "not_found", "the MCP endpoint of a session is /mcp/<session id>")
            return
        expected = self._secret_of(session_id)
        presented = _bearer(scope)
        if expected is None:
            await send_json_error(send, 404, "not_found", f"no live session {session_id!r} has an MCP endpoint")
            return
        if presented is None or not hmac.compare_digest(presented.encode(), expected.encode()):
            message = "this session's MCP secret is required (Authorization: Bearer)"
            await send_json_error(send, 401, "unauthorized", message)
            return
        inner = dict(scope, path="/mcp", raw_path=b"/mcp")
        inner[SESSION_KEY] = session_id
        await self._mcp(inner, receive, send)


def _bearer(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name.lower() == b"authorization" and (token := bearer_token(value.decode("latin-1"))) is not None:
            return token
    return None
