"""The Quart-Trio application (API, streams, dashboard page, JSON errors) behind the security gate."""

from __future__ import annotations

from importlib import resources
from typing import Any

from quart import Response
from quart_trio import QuartTrio

from orcha.web import errors
from orcha.web.access import AccessPolicy
from orcha.web.api import api
from orcha.web.context import WebContext
from orcha.web.drain import DrainRequestBody
from orcha.web.mcp import Router, build_mcp_app
from orcha.web.openapi import document
from orcha.web.security import Gatekeeper
from orcha.web.streams import streams

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
        return Response(page, content_type="text/html; charset=utf-8", headers={"Cache-Control": "no-cache"})

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
    mcp_app = build_mcp_app(ctx.reader, ctx.agents)
    router = Router(create_app(ctx), mcp_app, ctx.agents.mcp_secret)  # type: ignore[arg-type]
    return DrainRequestBody(Gatekeeper(router, policy or AccessPolicy(token=ctx.token)))  # outermost: drain.py
