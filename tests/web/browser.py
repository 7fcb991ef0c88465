"""Shared by the browser tests: Debian's Chromium, and the orcha server on its own trio loop in a thread."""

from __future__ import annotations

import pathlib
import threading
import time
from typing import Any

import trio

from tests.web.harness import served

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = pathlib.Path(__file__).resolve().parents[2] / "test-artifacts"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def wait_until(page: Any, expression: str, arg: Any = None, *, within: float = 20.0) -> Any:
    """Poll ``expression`` (a JavaScript function of ``arg``) in ``page`` until it returns something truthy.

    The dashboard's Content-Security-Policy forbids ``eval``, which Playwright's ``wait_for_function`` needs;
    ``page.evaluate`` goes through the DevTools protocol, outside the page's policy.
    """
    deadline = time.monotonic() + within
    while True:
        value = page.evaluate(expression, arg)
        if value:
            return value
        assert time.monotonic() < deadline, f"never true within {within}s: {expression}"
        time.sleep(0.05)


class ServerThread:
    """The orcha web server on its own trio loop in a thread, so Playwright's sync API can drive a browser."""

    def __init__(self, tmp_path: pathlib.Path, **options: Any) -> None:
        self._tmp_path = tmp_path
        self._options = options
        self._ready = threading.Event()
        self._stop: trio.Event | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self.url = ""
        self.store = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        try:
            trio.run(self._serve)
        except BaseException as exc:
            self.error = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._stop = trio.Event()
        self._token = trio.lowlevel.current_trio_token()
        async with served(self._tmp_path, **self._options) as srv:
            self.url, self.store = srv.url, srv.store
            self._ready.set()
            await self._stop.wait()

    def __enter__(self) -> ServerThread:
        self._thread.start()
        assert self._ready.wait(30) and self.error is None, self.error
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._stop is not None and self._token is not None:
            trio.from_thread.run_sync(self._stop.set, trio_token=self._token)
        self._thread.join(30)
