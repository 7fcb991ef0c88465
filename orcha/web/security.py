"""The gate in front of every route: Host, Origin, media type and credentials, checked before routing.

:class:`Gatekeeper` is an ASGI middleware around the whole HTTP surface (API, streams, websocket, MCP,
static pages), applying the decisions of :mod:`orcha.web.access`:

1. the ``Host`` header must name orcha (loopback, the bound address, ``--allowed-host``): 421 otherwise;
2. a state-changing request or a websocket handshake from a browser must come from orcha's own origin: 403;
3. a state-changing request with a body must be ``application/json``: 415 (so browsers preflight it);
4. credentials: the token as ``Authorization: Bearer``, ``?token=``, or the login cookie; 401 otherwise.
   ``/mcp/<session>`` checks its session's own secret instead (:class:`orcha.web.mcp_router.Router`); ``/healthz``
   is open. ``GET /?token=…`` sets an HttpOnly, SameSite=Strict cookie and redirects to ``/``; ``/`` without
   a login answers a page that says how to get one.

Refusals are JSON ``{"error": {"code", "message"}}`` (an HTML page for the dashboard's own URL).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from importlib import resources
from typing import Any
from urllib.parse import parse_qs

from orcha.web.access import (
    STATE_CHANGING,
    AccessPolicy,
    Refusal,
    bearer_token,
    check_host,
    check_media_type,
    check_origin,
    cookie,
)

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Any]]
Send = Callable[[Any], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

OPEN_PATHS = frozenset({"/healthz", "/favicon.ico"})
PAGE_PATHS = frozenset({"/"})
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),  # no page may frame the dashboard (clickjacking)
    (b"content-security-policy", b"frame-ancestors 'none'"),
    (b"referrer-policy", b"no-referrer"),
]
"""Added to every HTTP response orcha sends."""


def _headers(scope: Scope) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for name, value in scope.get("headers", ()):
        found.setdefault(name.decode("latin-1").lower(), []).append(value.decode("latin-1"))
    return found


def _one(headers: dict[str, list[str]], name: str) -> str | None:
    values = headers.get(name)
    return values[0] if values else None


def _query_token(scope: Scope) -> str | None:
    raw = scope.get("query_string", b"").decode("latin-1")
    values = parse_qs(raw).get("token")
    return values[0] if values else None


def login_page(message: str) -> bytes:
    """The page ``/`` shows without a valid login: what to do to get one."""
    template = resources.files("orcha.web").joinpath("static/login.html").read_text(encoding="utf-8")
    return template.replace("{{message}}", message).encode()


class Gatekeeper:
    """Refuse what :class:`AccessPolicy` refuses before ``app`` sees the request."""

    def __init__(self, app: ASGIApp, policy: AccessPolicy) -> None:
        self._app = app
        self._policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self._app(scope, receive, send)
            return
        headers = _headers(scope)
        path: str = scope.get("path", "")
        method = "GET" if kind == "websocket" else str(scope.get("method", "GET")).upper()
        refusal = self._check_request(kind, method, headers)
        if refusal is not None:
            await self._refuse(scope, receive, _with_security_headers(send), refusal)
            return
        if kind == "http":
            send = _with_security_headers(send)
        if path in OPEN_PATHS or path == "/mcp" or path.startswith("/mcp/"):
            await self._app(scope, receive, send)  # /mcp checks its session's own secret
            return
        query_token = _query_token(scope)
        if kind == "http" and path in PAGE_PATHS and query_token is not None:
            await self._login(scope, send, query_token)
            return
        if self._authenticated(scope, headers, query_token):
            await self._app(scope, receive, send)
            return
        if kind == "http" and path in PAGE_PATHS and method in ("GET", "HEAD"):
            await self._page(send, 401, login_page("This dashboard needs a login."))
            return
        await self._refuse(
            scope,
            receive,
            send,
            Refusal(401, "unauthorized", "a valid token is required: Authorization: Bearer $(orcha token)"),
        )

    def _check_request(self, kind: str, method: str, headers: dict[str, list[str]]) -> Refusal | None:
        host = _one(headers, "host")
        refusal = check_host(self._policy, host)
        if refusal is not None or host is None:
            return refusal
        if kind == "websocket" or method in STATE_CHANGING:
            refusal = check_origin(_one(headers, "origin"), host, fetch_site=_one(headers, "sec-fetch-site"))
            if refusal is not None:
                return refusal
        if kind == "http" and method in STATE_CHANGING:
            length = _one(headers, "content-length")
            has_body = "transfer-encoding" in headers or (length is not None and length.strip() not in ("", "0"))
            return check_media_type(_one(headers, "content-type"), has_body)
        return None

    def _authenticated(self, scope: Scope, headers: dict[str, list[str]], query_token: str | None) -> bool:
        policy = self._policy
        if policy.token is None:
            return True
        if policy.token_matches(bearer_token(_one(headers, "authorization"))) or policy.token_matches(query_token):
            return True
        return policy.cookie_matches(cookie(headers.get("cookie", []), policy.cookie_name(_port(scope))))

    async def _login(self, scope: Scope, send: Send, presented: str) -> None:
        policy = self._policy
        if not policy.token_matches(presented):
            await self._page(send, 401, login_page("That login link holds a token this server does not accept."))
            return
        name = policy.cookie_name(_port(scope))
        value = f"{name}={policy.cookie_value()}; Path=/; HttpOnly; SameSite=Strict"
        await send(
            {
                "type": "http.response.start",
                "status": 303,
                "headers": [
                    (b"location", b"/"),
                    (b"set-cookie", value.encode()),
                    (b"content-length", b"0"),
                    (b"cache-control", b"no-store"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b""})

    async def _page(self, send: Send, status: int, body: bytes) -> None:
        headers = [(b"content-type", b"text/html; charset=utf-8"), (b"content-length", str(len(body)).encode())]
        await send(
            {"type": "http.response.start", "status": status, "headers": [*headers, (b"cache-control", b"no-store")]}
        )
        await send({"type": "http.response.body", "body": body})

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, refusal: Refusal) -> None:
        if refusal.status != 401:  # someone tried to reach orcha from where it does not answer
            client = scope.get("client") or ("?", 0)
            log.warning(
                "refused %s %r from %s: %s (%s)",
                scope["type"] if scope["type"] == "websocket" else scope.get("method"),
                scope.get("path", "")[:200],
                client[0],
                refusal.code,
                refusal.message,
            )
        body = json.dumps({"error": {"code": refusal.code, "message": refusal.message}}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        if refusal.status == 401:
            headers.append((b"www-authenticate", b'Bearer realm="orcha"'))
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": refusal.status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        await receive()  # the websocket.connect event
        if "websocket.http.response" in scope.get("extensions", {}):
            await send({"type": "websocket.http.response.start", "status": refusal.status, "headers": headers})
            await send({"type": "websocket.http.response.body", "body": body})
        else:
            await send({"type": "websocket.close", "code": 1008})


def _with_security_headers(send: Send) -> Send:
    async def sending(message: Any) -> None:
        if message.get("type") == "http.response.start":
            present = {name.lower() for name, _ in message.get("headers", ())}
            extra = [(name, value) for name, value in SECURITY_HEADERS if name not in present]
            message = {**message, "headers": [*message.get("headers", ()), *extra]}
        await send(message)

    return sending


def _port(scope: Scope) -> int | None:
    server = scope.get("server")
    return int(server[1]) if server and server[1] is not None else None
