"""The Quart-Trio application (API, streams, dashboard page, JSON errors) behind the security gate."""

from __future__ import annotations

from importlib import resources
from typing import Any

from quart import Response
from quart_trio import QuartTrio

from orcha.errors import NotFoundError
from orcha.web import errors
from orcha.web.access import AccessPolicy
from orcha.web.api import api
from orcha.web.context import WebContext
from orcha.web.drain import DrainRequestBody
from orcha.web.lazy_app import LazyApp
from orcha.web.mcp_router import Router
from orcha.web.openapi import document
from orcha.web.security import Gatekeeper
from orcha.web.streams import streams

STATIC = {
    "dashboard.css": "text/css; charset=utf-8",
    "dashboard.js": "text/javascript; charset=utf-8",
    "core.js": "text/javascript; charset=utf-8",
    "format.js": "text/javascript; charset=utf-8",
    "session.js": "text/javascript; charset=utf-8",
    "objective.js": "text/javascript; charset=utf-8",
    "timeline.js": "text/javascript; charset=utf-8",
}
"""The dashboard's own files under ``/static/``, with their content types: nothing else is served from there."""

PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'self'; object-src 'none'; frame-ancestors 'none'"
)
"""The dashboard's Content-Security-Policy: its own scripts and styles only, no inline code, never framed."""

FAVICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><circle cx="8" cy="8" r="7" fill="#7aa2f7"/>'
    '<circle cx="8" cy="8" r="3" fill="#0f1115"/></svg>'
)


def create_app(ctx: WebContext) -> QuartTrio:
    """Build the app around ``ctx``; serve it with :func:`orcha.web.server.serve_web`."""
    app = QuartTrio("orcha")
    app.config["ORCHA"] = ctx
    app.config["RESPONSE_TIMEOUT"] = 60
    app.config["MAX_CONTENT_LENGTH"] = 4 * 1024 * 1024
    errors.install(app)
    app.register_blueprint(api)
    app.register_blueprint(streams)

    @app.get("/")
    async def dashboard_page() -> Response:
        page = resources.files("orcha.web").joinpath("static/dashboard.html").read_text(encoding="utf-8")
        headers = {"Cache-Control": "no-cache", "Content-Security-Policy": PAGE_CSP}
        return Response(page, content_type="text/html; charset=utf-8", headers=headers)

    @app.get("/static/<name>")
    async def static_file(name: str) -> Response:
        content_type = STATIC.get(name)
        if content_type is None:
            raise NotFoundError("static file", name[:80])
        body = resources.files("orcha.web").joinpath("static", name).read_text(encoding="utf-8")
        headers = {"Cache-Control": "no-cache", "Content-Security-Policy": PAGE_CSP}
        return Response(body, content_type=content_type, headers=headers)

    @app.get("/favicon.ico")
    async def favicon() -> Response:
        return Response(FAVICON, content_type="image/svg+xml", headers={"Cache-Control": "max-age=86400"})

    @app.get("/api/openapi.json")
    async def openapi() -> dict[str, Any]:
        return document()

    @app.get("/healthz")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def create_asgi(ctx: WebContext, policy: AccessPolicy | None = None) -> DrainRequestBody:
    """The whole HTTP surface behind the :class:`Gatekeeper`: the Quart app, and ``/mcp/<session id>``.

    ``policy`` defaults to a loopback bind requiring ``ctx.token`` (none: no authentication).
    """

    def build_mcp() -> Any:
        from orcha.web.mcp import build_mcp_app  # the SDK: imported off the loop once the server runs

        return build_mcp_app(ctx.reader, ctx.agents)

    mcp_app = LazyApp(build_mcp, name="MCP endpoint")
    router = Router(create_app(ctx), mcp_app, ctx.agents.mcp_secret)  # type: ignore[arg-type]
    return DrainRequestBody(Gatekeeper(router, policy or AccessPolicy(token=ctx.token)))  # outermost: drain.py
