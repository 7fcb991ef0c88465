"""The dashboard in headless Chromium (Debian's chromium driven by Playwright): a user's whole loop."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import threading

import pytest
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


@pytest.fixture(scope="module")
def chromium() -> str:
    """Debian's Chromium; installed here when missing (the test command does it too)."""
    if not os.path.exists(CHROMIUM) and shutil.which("apt-get") and os.geteuid() == 0:
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "chromium"],
            check=True,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
    if not os.path.exists(CHROMIUM):
        pytest.fail("Chromium is missing: run scripts/test, which installs it with apt-get")
    return CHROMIUM


class ServerThread:
    """The orcha web server on its own trio loop in a thread, so Playwright's sync API can drive a browser."""

    def __init__(self, tmp_path: pathlib.Path) -> None:
        self._tmp_path = tmp_path
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
        async with served(self._tmp_path) as srv:
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


def test_create_watch_the_team_answer_and_screenshot(tmp_path, chromium):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with ServerThread(tmp_path) as server, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 900})
            page.goto(server.url + "/")
            page.wait_for_selector("#conn.live")
            page.fill("#new-objective-form input[name=title]", "Port subsystem to Rust")
            page.fill("#new-objective-form input[name=prompt]", "Split it in two and open a PR for each part.")
            page.click("#new-objective-form button[type=submit]")

            page.wait_for_selector("tr[data-role=manager]")
            page.wait_for_function("document.querySelectorAll('tr[data-role=worker]').length === 2")
            page.wait_for_function("document.querySelectorAll('a.pr-link').length === 2")
            assert page.locator("#prs a.pr-url").count() == 2

            page.wait_for_selector(".question")
            assert "Which license?" in page.inner_text(".question")
            page.fill(".question input[name=answer]", "MIT, please")
            page.click(".question button[type=submit]")
            page.wait_for_selector("text=nothing needs you")

            page.click("tr[data-role=worker] >> nth=0")
            page.wait_for_selector("#transcript .line")
            page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
        finally:
            browser.close()
        [question] = server.store.list_questions()
        assert (str(question.status), question.answer) == ("answered", "MIT, please")
    assert (ARTIFACTS / "dashboard.png").stat().st_size > 10_000
