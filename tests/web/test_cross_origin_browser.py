"""A hostile page in a real browser: Chromium loads a page from a second local origin that tries to drive orcha.

The page lives on 127.0.0.1 too, on another port: same *site* as orcha, so even a SameSite=Strict login
cookie goes along with its requests. Only the Origin and media-type checks stand between it and orcha, with
the user logged in (token) and with ``--no-auth``.
"""

from __future__ import annotations

import http.server
import json
import logging
import threading

import pytest

from tests.web.browser import FLAGS, ServerThread

TOKEN = "cross-origin-test-token-0123"
PWN = {"title": "pwned", "prompt": "id > /tmp/pwned", "agent": "shell"}

ATTACK = """<!doctype html><html><body>
<iframe name="sink" id="sink"></iframe>
<form id="form" method="POST" action="ORCHA/api/objectives" enctype="text/plain" target="sink">
  <input name='{"title":"pwned-form","agent":"shell","prompt":"id","pad":"' value='"}'>
</form>
<script>
const orcha = "ORCHA";
const body = JSON.stringify(PWN);
window.result = { plain: "pending", json: "pending", ws: "pending", form: "pending" };
fetch(orcha + "/api/objectives", { method: "POST", mode: "no-cors", credentials: "include",
    headers: { "Content-Type": "text/plain;charset=UTF-8" }, body })
  .then((r) => { result.plain = "sent"; }, (e) => { result.plain = "blocked"; });
fetch(orcha + "/api/objectives", { method: "POST", credentials: "include",
    headers: { "Content-Type": "application/json" }, body })
  .then((r) => { result.json = "status " + r.status; }, (e) => { result.json = "blocked"; });
const ws = new WebSocket(orcha.replace("http:", "ws:") + "/ws");
ws.onmessage = (event) => { result.ws = "message " + event.data.slice(0, 40); };
ws.onclose = () => { if (result.ws === "pending") result.ws = "closed"; };
document.getElementById("sink").addEventListener("load", () => { result.form = "answered"; });
document.getElementById("form").submit();
</script></body></html>"""


class AttackerSite:
    """A second local origin (127.0.0.1, another port) serving the hostile page."""

    def __init__(self, orcha_url: str) -> None:
        page = ATTACK.replace("ORCHA", orcha_url).replace("PWN", json.dumps(PWN)).encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)

            def log_message(self, *args: object) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> AttackerSite:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.mark.parametrize("token", [TOKEN, None], ids=["logged-in", "no-auth"])
def test_a_page_on_another_origin_cannot_create_or_read_anything(tmp_path, chromium, caplog, token):
    from playwright.sync_api import sync_playwright

    caplog.set_level(logging.WARNING, logger="orcha.web.security")
    with ServerThread(tmp_path, token=token) as server, AttackerSite(server.url) as attacker, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=FLAGS)
        try:
            context = browser.new_context()
            page = context.new_page()
            if token:  # the user is logged in: the browser holds orcha's cookie
                page.goto(f"{server.url}/?token={token}")
                page.wait_for_selector("#conn.live")
                assert any(c["name"].startswith("orcha-login-") for c in context.cookies())
            page.goto(attacker.url)
            page.wait_for_function(
                "Object.values(window.result).every((v) => v !== 'pending')", timeout=20_000, polling=100
            )
            result = page.evaluate("window.result")
        finally:
            browser.close()
        assert result["json"] == "blocked"  # its preflight finds no CORS grant; the POST is never sent
        assert result["ws"] == "closed"  # refused at the handshake: no snapshot ever reached the page
        assert result["form"] == "answered"
        assert server.store.list_objectives() == []
    refusals = [r.getMessage() for r in caplog.records if "origin_not_allowed" in r.getMessage()]
    assert any("POST '/api/objectives'" in m for m in refusals), refusals  # the text/plain fetch and the form
    assert sum("POST '/api/objectives'" in m for m in refusals) >= 2, refusals
    assert any("websocket '/ws'" in m for m in refusals), refusals
