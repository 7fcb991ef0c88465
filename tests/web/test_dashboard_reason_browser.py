"""The dashboard shows why a session failed, on its row under the status (headless Chromium)."""

from __future__ import annotations

from orcha.agents.fake import AwaitTeam, Call, Complete, Say
from orcha.model import SessionRole
from tests.web.browser import FLAGS, ServerThread

TOKEN = "reason-test-token-0123456789abcdef"


def failing_worker(request):
    if request.role is SessionRole.MANAGER:
        return [
            Say("planning"),
            Call("spawn_session", {"prompt": "part 1"}),
            AwaitTeam(poll_seconds=0.05),
            Complete("the worker failed"),
        ]
    return [Say("working"), Complete("the tests are red: 3 failures in test_parser.py", failed=True)]


def test_a_failed_session_shows_its_reason_on_its_row(tmp_path, chromium):
    import httpx
    from playwright.sync_api import sync_playwright

    headers = {"Authorization": f"Bearer {TOKEN}"}
    with (
        ServerThread(tmp_path, token=TOKEN, scripts=failing_worker) as server,
        httpx.Client(base_url=server.url, headers=headers, timeout=10) as client,
        sync_playwright() as p,
    ):
        client.post("/api/objectives", json={"title": "t", "prompt": "p", "agent": "claude"}).raise_for_status()
        browser = p.chromium.launch(executable_path=chromium, args=FLAGS)
        try:
            page = browser.new_page()
            page.goto(f"{server.url}/?token={TOKEN}")
            page.wait_for_selector("tr[data-role=worker][data-status=failed] .reason", timeout=20_000)
            shown = page.inner_text("tr[data-role=worker] .reason")
            [worker] = [s for s in client.get("/api/dashboard").json()["sessions"] if s["role"] == "worker"]
            assert worker["status"] == "failed" and worker["status_reason"]
            assert shown == worker["status_reason"]
            assert "tests are red" in shown, shown
            cell = page.locator("tr[data-role=worker] td.st-failed")
            assert cell.get_attribute("title") == worker["status_reason"]
        finally:
            browser.close()
