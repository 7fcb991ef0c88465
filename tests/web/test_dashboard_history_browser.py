"""Older objectives on the dashboard: the snapshot holds one page of history, a click brings the next."""

from __future__ import annotations

import time

import httpx

from orcha.agents.fake import Call, Complete
from orcha.views import HISTORY_PAGE
from tests.web.browser import FLAGS, ServerThread, wait_until

TOKEN = "history-test-token-0123456789abcdef"


def done_at_once(request):
    return [Call("mark_objective_done", {"summary": "nothing to do"}), Complete("done")]


def test_older_objectives_are_a_click_away(tmp_path, chromium):
    from playwright.sync_api import sync_playwright

    headers = {"Authorization": f"Bearer {TOKEN}"}
    with (
        ServerThread(tmp_path, token=TOKEN, scripts=done_at_once) as server,
        httpx.Client(base_url=server.url, headers=headers, timeout=10) as client,
        sync_playwright() as p,
    ):
        titles = [f"objective {n:02d}" for n in range(HISTORY_PAGE + 2)]
        for title in titles:
            client.post("/api/objectives", json={"title": title, "prompt": "p", "agent": "claude"}).raise_for_status()
        deadline = time.monotonic() + 30
        while any(o["status"] == "active" for o in client.get("/api/objectives").json()["items"]):
            assert time.monotonic() < deadline, "the objectives never ended"
            time.sleep(0.05)
        browser = p.chromium.launch(executable_path=chromium, args=FLAGS)
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(f"{server.url}/?token={TOKEN}")
            page.wait_for_selector("#history button[data-more-history]")
            assert page.locator("tr.objective").count() == HISTORY_PAGE
            assert page.inner_text("#history").startswith(f"{HISTORY_PAGE} ended objectives shown")
            page.click("#history button[data-more-history]")
            wait_until(page, f"() => document.querySelectorAll('tr.objective').length === {len(titles)}")
            shown = page.eval_on_selector_all("tr.objective .otitle", "els => els.map((e) => e.textContent)")
            assert sorted(shown) == titles  # each once: the live rows of the second page are not doubled
            assert page.locator("#history button").count() == 0  # no more pages
            assert page.inner_text("#summary").startswith(f"{len(titles)} objectives ·")
            assert errors == []
        finally:
            browser.close()
