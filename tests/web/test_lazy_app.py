"""LazyApp: the MCP app built off the loop once the server runs; requests wait for it, or get a clear 503."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from typing import Any

import pytest
import trio
import trio.testing

from orcha.web.asgi import Receive, Scope, Send
from orcha.web.lazy_app import LazyApp


class Inner:
    """A built app: answers 200 with its name; records its lifespan's messages."""

    def __init__(self, *, fail_startup: bool = False) -> None:
        self.lifespan: list[str] = []
        self.fail_startup = fail_startup

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                self.lifespan.append(message["type"])
                if message["type"] == "lifespan.startup":
                    kind = "failed" if self.fail_startup else "complete"
                    await send({"type": f"lifespan.startup.{kind}", "message": "no database"})
                    if self.fail_startup:
                        return
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"inner"})


async def request(app: LazyApp) -> tuple[int, bytes]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app({"type": "http", "path": "/mcp", "headers": []}, receive, send)
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


class Server:
    """Drives an app's lifespan as hypercorn does: startup, then (when told) shutdown."""

    def __init__(self, app: LazyApp) -> None:
        self.app = app
        self.to_app, self._inbox = trio.open_memory_channel[dict[str, Any]](2)
        self.replies: list[str] = []
        self.started = trio.Event()
        self.stopped = trio.Event()

    async def run(self) -> None:
        async def send(message: dict[str, Any]) -> None:
            self.replies.append(message["type"])
            (self.started if message["type"].startswith("lifespan.startup") else self.stopped).set()

        await self.app({"type": "lifespan"}, self._inbox.receive, send)

    async def start(self, nursery: trio.Nursery) -> None:
        nursery.start_soon(self.run)
        await self.to_app.send({"type": "lifespan.startup"})
        await self.started.wait()

    async def stop(self) -> None:
        await self.to_app.send({"type": "lifespan.shutdown"})
        await self.stopped.wait()


async def test_startup_does_not_wait_for_the_build_and_an_early_request_waits_for_it() -> None:
    release = threading.Event()
    inner = Inner()

    def build() -> Inner:
        release.wait(30)
        return inner

    app = LazyApp(build, name="MCP endpoint")
    server = Server(app)
    async with trio.open_nursery() as nursery:
        with trio.fail_after(10):
            await server.start(nursery)  # answered while the build is still blocked
        assert server.replies == ["lifespan.startup.complete"] and not app.ready
        answers: list[tuple[int, bytes]] = []
        answered = trio.Event()

        async def early() -> None:
            answers.append(await request(app))
            answered.set()

        nursery.start_soon(early)
        await trio.testing.wait_all_tasks_blocked()
        assert answers == []  # waiting for the build, not refused
        release.set()
        with trio.fail_after(10):
            await app.wait_ready()
            await answered.wait()
        assert answers == [(200, b"inner")] and app.ready
        assert inner.lifespan == ["lifespan.startup"]
        await server.stop()
    assert inner.lifespan == ["lifespan.startup", "lifespan.shutdown"]  # the built app's own lifespan ended
    assert server.replies == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


def _no_sdk() -> Inner:
    raise ImportError("No module named 'mcp'")


@pytest.mark.parametrize(
    ("build", "reason"),
    [
        (_no_sdk, "could not be built: ImportError: No module named 'mcp'"),
        (lambda: Inner(fail_startup=True), "its startup failed: no database"),
    ],
    ids=["the build fails", "its startup fails"],
)
async def test_an_app_that_cannot_be_served_answers_503_with_the_reason(build, reason) -> None:
    app = LazyApp(build, name="MCP endpoint")
    server = Server(app)
    async with trio.open_nursery() as nursery:
        await server.start(nursery)
        with trio.fail_after(10):
            await app.wait_ready()
            status, body = await request(app)
        assert status == 503
        error = json.loads(body)["error"]
        assert error["code"] == "unavailable" and reason in error["message"]
        await server.stop()


async def test_without_a_lifespan_a_request_is_refused_at_once() -> None:
    app = LazyApp(Inner, name="MCP endpoint")
    with trio.fail_after(1):
        status, body = await request(app)
    assert status == 503 and "has not been started" in json.loads(body)["error"]["message"]


async def test_shutdown_during_the_build_does_not_wait_for_it() -> None:
    release = threading.Event()

    def build() -> Inner:
        release.wait(30)
        return Inner()

    app = LazyApp(build, name="MCP endpoint")
    server = Server(app)
    try:
        async with trio.open_nursery() as nursery:
            await server.start(nursery)
            with trio.fail_after(5):
                await server.stop()
        assert server.replies == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
        assert not app.ready
    finally:
        release.set()  # the abandoned thread ends


async def test_orcha_serve_does_not_import_the_mcp_sdk_before_it_serves() -> None:
    """The SDK takes a second or more to import: the server's own modules must not pull it in."""
    code = "import sys, orcha.cli._main, orcha.cli._serve, orcha.web.app; print('mcp' in sys.modules)"
    result = await trio.run_process([sys.executable, "-c", code], capture_stdout=True)
    assert result.stdout.decode().strip() == "False"


def test_subprocess_import_check_is_not_vacuous() -> None:
    """The check above would see the SDK if a server module imported it (orcha.web.mcp does)."""
    code = "import sys, orcha.web.mcp; print('mcp' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True)
    assert result.stdout.decode().strip() == "True"
