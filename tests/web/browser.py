"""Shared by the browser tests: Debian's Chromium, and the orcha server on its own trio loop in a thread."""

from __future__ import annotations

import pathlib
import threading
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
