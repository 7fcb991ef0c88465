"""The Quart-Trio application: API, streams, dashboard page, token check, JSON errors."""

from __future__ import annotations

import hmac
from importlib import resources
from typing import Any

from quart import Response, request, websocket
from quart_trio import QuartTrio

from orcha.web import errors
from orcha.web.api import api
from orcha.web.context import WebContext
from orcha.web.errors import error_response
from orcha.web.mcp import Router, build_mcp_app
from orcha.web.openapi import document
from orcha.web.streams import streams

PROTECTED = ("/api", "/ws", "/mcp")


def _presented_token(headers: Any, args: Any) -> str | None:
    auth = headers.get("Authorization", "")
    if auth.lower().startswith("bearer "):
        return str(auth[7:].strip())
    token = args.get("token")
    return str(token) if token else None


def _authorized(expected: str | None, headers: Any, args: Any) -> bool:
    if expected is None:
        return True
    presented = _presented_token(headers, args)
    return presented is not None and hmac.compare_digest(presented.encode(), expected.encode())


def create_app(ctx: WebContext) -> QuartTrio:
    """Build the app around ``ctx``; serve it with :func:`orcha.web.server.serve_web`."""
    app = QuartTrio("orcha")
    app.config["ORCHA"] = ctx
    app.config["RESPONSE_TIMEOUT"] = 60
    app.config["MAX_CONTENT_LENGTH"] = 4 * 1024 * 1024
    errors.install(app)
    app.register_blueprint(api)
    app.register_blueprint(streams)

    @app.before_request
    async def require_token() -> Response | None:
        if request.path.startswith(PROTECTED) and not _authorized(ctx.token, request.headers, request.args):
            return error_response(401, "unauthorized", "a valid token is required (Authorization: Bearer …)")
        return None

    @app.before_websocket
    async def require_websocket_token() -> Response | None:
        if not _authorized(ctx.token, websocket.headers, websocket.args):
            return error_response(401, "unauthorized", "a valid token is required (?token=…)")
        return None

    @app.get("/")
    async def dashboard_page() -> Response:
        page = resources.files("orcha.web").joinpath("static/dashboard.html").read_text(encoding="utf-8")
        return Response(page, content_type="text/html; charset=utf-8", headers={"Cache-Control": "no-cache"})

    @app.get("/api/openapi.json")
    async def openapi() -> dict[str, Any]:
        return document()

    @app.get("/healthz")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def create_asgi(ctx: WebContext, *, allowed_hosts: list[str] | None = None) -> Router:
    """The whole HTTP surface: the Quart app, and ``/mcp/<session id>`` for the agents.

    ``allowed_hosts`` (``host:port`` patterns) extends the MCP endpoint's DNS-rebinding guard beyond localhost
    when orcha listens on another address.
    """
    orchestrator = ctx.orchestrator
    mcp_app = build_mcp_app(orchestrator, allowed_hosts=allowed_hosts)
    return Router(create_app(ctx), mcp_app, orchestrator.mcp_secret)  # type: ignore[arg-type]
