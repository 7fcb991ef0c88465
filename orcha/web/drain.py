"""Keep a keep-alive connection usable when orcha answers before it has read the request body.

A 401, 404, 413 or 400 often goes out before the body it refuses has arrived. Hypercorn (0.18, h11) then
closes the connection as soon as the response ends, because the request is still in its ``SEND_BODY``
state, and it does so without ``Connection: close``: a keep-alive client that sends the rest of its body and
then its next request on that connection gets no reply at all (a reset, or a silent close).

:class:`DrainRequestBody` wraps the whole ASGI app. When an HTTP response is about to end while the request
body is still unread, it sends the response's bytes at once (so the client has its whole answer), reads and
discards what is left of the body (at most ``max_bytes``, for at most ``timeout`` seconds), and only then ends
the response, so hypercorn recycles the connection for the next request. A request that announces more than
``max_bytes`` is answered with ``Connection: close`` instead: the client knows not to reuse the connection.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import trio

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_DRAIN_BYTES = 16 * 1024 * 1024
DRAIN_TIMEOUT = 10.0


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class _Exchange:
    """One HTTP request/response: what of the request body has been read, by the app or by the drain."""

    def __init__(self, scope: Scope, receive: Receive, send: Send, *, max_bytes: int, timeout: float) -> None:
        self._receive = receive
        self._send = send
        self._max_bytes = max_bytes
        self._timeout = timeout
        self._complete = trio.Event()
        self._received = 0
        declared = _declared_length(scope)
        self._too_long = declared is not None and declared > max_bytes

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request":
            self._received += len(message.get("body", b""))
            if not message.get("more_body", False):
                self._complete.set()
        elif message["type"] == "http.disconnect":
            self._complete.set()
        return message

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start" and self._too_long and not self._complete.is_set():
            headers = [(n, v) for n, v in message.get("headers", ()) if n.lower() != b"connection"]
            message = {**message, "headers": [*headers, (b"connection", b"close")]}
        elif (
            kind == "http.response.body"
            and not message.get("more_body", False)
            and not self._complete.is_set()
            and not self._too_long
        ):
            if message.get("body"):
                await self._send({"type": "http.response.body", "body": message["body"], "more_body": True})
            await self._drain()
            message = {"type": "http.response.body", "body": b"", "more_body": False}
        await self._send(message)

    async def _drain(self) -> None:
        with trio.move_on_after(self._timeout):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._pull, nursery.cancel_scope)
                await self._complete.wait()  # set by whoever reads the last chunk: the app's reader or ours
                nursery.cancel_scope.cancel()

    async def _pull(self, done: trio.CancelScope) -> None:
        while not self._complete.is_set() and self._received <= self._max_bytes:
            await self.receive()
        done.cancel()


class DrainRequestBody:
    """ASGI middleware: read and discard an unread request body before a response ends (see the module)."""

    def __init__(self, app: ASGIApp, *, max_bytes: int = MAX_DRAIN_BYTES, timeout: float = DRAIN_TIMEOUT) -> None:
        self._app = app
        self._max_bytes = max_bytes
        self._timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        exchange = _Exchange(scope, receive, send, max_bytes=self._max_bytes, timeout=self._timeout)
        await self._app(scope, exchange.receive, exchange.send)
