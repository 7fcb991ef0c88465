"""The dashboard in headless Chromium: an activity message whose ``now`` is null (the session's newest lines
said nothing new, e.g. a tool call's successful result) leaves the row's "now" as it was and moves its clock."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from orcha.agents.contract import StartRequest
from orcha.agents.fake import Say, Step, Wait
from tests.web.browser import FLAGS, ServerThread, wait_until

TOKEN = "browser-activity-token-0123456789"


def reading(request: StartRequest) -> Sequence[Step]:
    return [Say("reading the lexer"), Wait(60)]


def test_a_null_now_keeps_the_rows_now(tmp_path, chromium):
    from playwright.sync_api import sync_playwright

    routes: list[Any] = []

    def forward(route: Any) -> None:  # the page's websocket, through to the server, with room to add a message
        route.connect_to_server()
        routes.append(route)

    with ServerThread(tmp_path, token=TOKEN, scripts=reading) as server, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.route_web_socket("**/ws", forward)
            page.goto(f"{server.url}/?token={TOKEN}")
            page.wait_for_selector("#conn.live")
            page.fill("#new-objective-form input[name=title]", "Read the lexer")
            page.click("#new-objective-form button[type=submit]")
            row = page.locator("tr[data-role=manager]")
            row.wait_for()
            wait_until(page, "() => document.querySelector('tr[data-role=manager] .now').textContent.includes('lexer')")
            session_id = row.get_attribute("data-session-row")

            an_hour_ago = time.time() - 3600
            [route] = routes
            now = {session_id: {"now": None, "last_output_at": an_hour_ago}}
            route.send(json.dumps({"type": "activity", "sessions": [session_id], "now": now}))
            wait_until(page, "() => document.querySelector('tr[data-role=manager] .ago').textContent.startsWith('1h')")
            assert row.locator(".now").inner_text() == "reading the lexer"
        finally:
            browser.close()
