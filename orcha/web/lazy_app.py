"""An ASGI app built off the event loop once the server runs, so that a slow import does not hold up the start.

The MCP SDK takes about a second and a half to import on a slow 2-core machine (its pydantic models), more
than the rest of ``orcha serve``'s start. The dashboard and the API need none of it: :class:`LazyApp` builds
the MCP app in a worker thread at the server's lifespan startup (which it does not hold up), then runs the
built app's own lifespan. A request that comes before it is ready waits for it; one that cannot be served (the
build failed, or no lifespan ever started it) gets a 503 with a JSON body saying why, never a hung connection.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import trio

from orcha.web.asgi import ASGIApp, Receive, Scope, Send, send_json_error

log = logging.getLogger(__name__)

READY_WITHIN = 60.0
"""How long a request waits for the app to be built and started before it is answered 503."""
SHUTDOWN_WITHIN = 10.0
"""How long the built app's lifespan shutdown may take."""


class LazyApp:
    """``build()`` (a blocking call, e.g. one that imports a slow library) run in a thread at lifespan startup;
    requests go to what it built once its own lifespan has started."""

    def __init__(self, build: Callable[[], ASGIApp], *, name: str) -> None:
        self._build = build
        self._name = name
        self._app: ASGIApp | None = None
        self._error: str | None = None
        self._started = False
        self._ready = trio.Event()
        self._stopping = trio.Event()

    @property
    def ready(self) -> bool:
        """Built and started (requests are served at once)."""
        return self._app is not None

    async def wait_ready(self) -> None:
        """Until the app is built and started, or could not be."""
        await self._ready.wait()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(scope, receive, send)
            return
        if not self._ready.is_set():
            if not self._started:
                await send_json_error(
                    send, 503, "unavailable", f"the {self._name} has not been started (no server lifespan ran)"
                )
                return
            with trio.move_on_after(READY_WITHIN):
                await self._ready.wait()
        if self._app is None:
            reason = self._error or f"not ready after {READY_WITHIN:g} s"
            await send_json_error(send, 503, "unavailable", f"the {self._name} is unavailable: {reason}")
            return
        await self._app(scope, receive, send)

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        if message["type"] != "lifespan.startup":
            return
        self._started = True
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._build_and_run, scope)
            await send({"type": "lifespan.startup.complete"})  # the server starts without waiting for the build
            while (await receive())["type"] != "lifespan.shutdown":
                pass
            self._stopping.set()
            if self._app is None:  # still building (its thread is left to finish on its own), or failed
                nursery.cancel_scope.cancel()
        await send({"type": "lifespan.shutdown.complete"})

    async def _build_and_run(self, scope: Scope) -> None:
        """Build the app, start its lifespan, serve until shutdown, then stop its lifespan."""
        try:
            app = await trio.to_thread.run_sync(self._build, abandon_on_cancel=True)
        except Exception as exc:
            self._fail(f"it could not be built: {type(exc).__name__}: {exc}")
            return
        to_app, app_inbox = trio.open_memory_channel[dict[str, Any]](2)
        started, stopped = trio.Event(), trio.Event()
        failure: list[str] = []

        async def from_app(message: dict[str, Any]) -> None:
            kind = message["type"]
            if kind.endswith(".failed"):
                failure.append(str(message.get("message", "")))
            if kind.startswith("lifespan.startup."):
                started.set()
            elif kind.startswith("lifespan.shutdown."):
                stopped.set()

        async def run_lifespan() -> None:
            try:
                await app(dict(scope), app_inbox.receive, from_app)
            except Exception as exc:
                failure.append(f"{type(exc).__name__}: {exc}")
            started.set()
            stopped.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(run_lifespan)
            await to_app.send({"type": "lifespan.startup"})
            await started.wait()
            if failure:
                self._fail(f"its startup failed: {failure[0]}")
                nursery.cancel_scope.cancel()
                return
            self._app = app
            self._ready.set()
            await self._stopping.wait()
            await to_app.send({"type": "lifespan.shutdown"})
            with trio.move_on_after(SHUTDOWN_WITHIN):
                await stopped.wait()
            nursery.cancel_scope.cancel()

    def _fail(self, reason: str) -> None:
        log.error("the %s is unavailable: %s", self._name, reason)
        self._error = reason
        self._ready.set()
