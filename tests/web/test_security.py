"""The gate over real HTTP: DNS rebinding, cross-site requests, websockets, login cookies, MCP, logging."""

from __future__ import annotations

import json
import logging

import httpx
import pytest
import trio
from trio_websocket import open_websocket_url

from orcha.model import SessionRole, SessionStatus
from orcha.web.access import AccessPolicy
from tests.web.harness import eventually, served, websocket_refusal

TOKEN = "a-test-token-of-some-length"
EVIL = "http://evil.example"
PWN = {"title": "x", "prompt": "id > /tmp/pwned", "agent": "shell"}


def _refused(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == code and error["message"]


def idle_team(request):
    from orcha.agents.fake import Say, Wait

    return [Say("idle"), Wait(3600)]


@pytest.mark.parametrize("no_auth", [False, True], ids=["token", "no-auth"])
async def test_the_issue_s_cross_site_post_creates_nothing(tmp_path, no_auth):
    """The exact request from the issue: a text/plain POST from a foreign Origin; with and without a token."""
    async with served(tmp_path, token=None if no_auth else TOKEN) as srv:
        plain = {"Origin": EVIL, "Content-Type": "text/plain;charset=UTF-8"}
        _refused(
            await srv.client.post("/api/objectives", content=json.dumps(PWN), headers=plain), 403, "origin_not_allowed"
        )
        as_json = {"Origin": EVIL, "Content-Type": "application/json"}
        _refused(
            await srv.client.post("/api/objectives", content=json.dumps(PWN), headers=as_json),
            403,
            "origin_not_allowed",
        )
        sneaky = {"Sec-Fetch-Site": "cross-site", "Content-Type": "application/json"}
        _refused(
            await srv.client.post("/api/objectives", content=json.dumps(PWN), headers=sneaky), 403, "origin_not_allowed"
        )
        for media in ("text/plain;charset=UTF-8", "application/x-www-form-urlencoded", "multipart/form-data; b=x"):
            response = await srv.client.post(
                "/api/objectives", content=json.dumps(PWN), headers={"Content-Type": media}
            )
            _refused(response, 415, "unsupported_media_type")
        assert srv.store.list_objectives() == []
        own = {"Origin": srv.url, "Content-Type": "application/json"}
        created = await srv.client.post("/api/objectives", content=json.dumps({**PWN, "prompt": "true"}), headers=own)
        assert created.status_code == 201  # orcha's own page may


@pytest.mark.parametrize(
    "path", ["/api/dashboard", "/api/openapi.json", "/", "/healthz", "/mcp/ses_x", "/no/such/page", "/favicon.ico"]
)
async def test_a_foreign_host_is_refused_before_routing(tmp_path, path):
    """DNS rebinding: a page on rebind.evil.example that resolves to 127.0.0.1 reads nothing, even with a token."""
    async with served(tmp_path, token=TOKEN) as srv:
        for host in ("rebind.evil.example", "127.0.0.1.evil.example:8080", "localhost.:80"):
            _refused(await srv.client.get(path, headers={"Host": host}), 421, "host_not_allowed")
        _refused(await srv.client.post(path, json={}, headers={"Host": "rebind.evil.example"}), 421, "host_not_allowed")


async def test_a_listed_host_and_the_bound_address_are_allowed(tmp_path):
    policy = AccessPolicy(token=TOKEN, bind_host="127.0.0.1", allowed_hosts=("orcha.box.lan",))
    async with served(tmp_path, token=TOKEN, policy=policy) as srv:
        for host in ("orcha.box.lan:8080", "localhost", "127.0.0.2", "[::1]:1"):
            assert (await srv.client.get("/api/dashboard", headers={"Host": host})).status_code == 200, host
        _refused(await srv.client.get("/api/dashboard", headers={"Host": "other.box.lan"}), 421, "host_not_allowed")


async def test_every_route_needs_the_token(tmp_path):
    async with served(tmp_path, token=TOKEN) as srv, httpx.AsyncClient(base_url=srv.url) as anonymous:
        for method, path in [
            ("GET", "/api/dashboard"),
            ("GET", "/api/openapi.json"),
            ("GET", "/api/events/stream"),
            ("GET", "/no/such/page"),
            ("POST", "/api/objectives"),
            ("POST", "/api/sessions/ses_x/cancel"),
        ]:
            response = await anonymous.request(method, path, json={})
            _refused(response, 401, "unauthorized")
            assert response.headers["www-authenticate"].startswith("Bearer")
        assert (await anonymous.get("/healthz")).json() == {"status": "ok"}  # liveness only, no data
        for wrong in ("Bearer nope", "Basic " + TOKEN, "Bearer " + TOKEN[:-1]):
            _refused(await anonymous.get("/api/dashboard", headers={"Authorization": wrong}), 401, "unauthorized")
        assert (await anonymous.get("/api/dashboard", headers={"Authorization": "Bearer " + TOKEN})).status_code == 200
        assert (await anonymous.get("/api/dashboard", params={"token": TOKEN})).status_code == 200


async def test_the_login_url_sets_a_strict_httponly_cookie_for_this_server_only(tmp_path):
    async with served(tmp_path, token=TOKEN) as srv, httpx.AsyncClient(base_url=srv.url) as browser:
        page = await browser.get("/")
        assert page.status_code == 401 and "orcha token" in page.text and "dashboard needs a login" in page.text
        bad = await browser.get("/", params={"token": "wrong-token"})
        assert bad.status_code == 401 and "does not accept" in bad.text and not bad.headers.get("set-cookie")

        login = await browser.get("/", params={"token": TOKEN})
        assert login.status_code == 303 and login.headers["location"] == "/"
        set_cookie = login.headers["set-cookie"]
        port = srv.url.rsplit(":", 1)[1]
        assert set_cookie.startswith(f"orcha-login-{port}=")
        assert "HttpOnly" in set_cookie and "SameSite=Strict" in set_cookie and "Path=/" in set_cookie
        assert TOKEN not in set_cookie  # the cookie is a MAC of the token, not the token

        dashboard = await browser.get("/")  # httpx keeps the cookie
        assert dashboard.status_code == 200 and "<title>orcha</title>" in dashboard.text
        for response in (dashboard, login, page, await browser.get("/api/dashboard")):  # nothing may frame orcha
            assert response.headers["x-frame-options"] == "DENY"
            assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
            assert response.headers["referrer-policy"] == "no-referrer"
        assert (await browser.get("/api/dashboard")).status_code == 200
        cookie_header = {"Cookie": set_cookie.split(";", 1)[0]}
        ws_url = srv.url.replace("http://", "ws://") + "/ws"
        async with open_websocket_url(ws_url, extra_headers=list(cookie_header.items())) as ws:
            assert json.loads(await ws.get_message())["type"] == "snapshot"

        other_port = {"Cookie": set_cookie.split(";", 1)[0].replace(f"-{port}=", "-1=")}
        async with httpx.AsyncClient(base_url=srv.url) as stranger:
            _refused(await stranger.get("/api/dashboard", headers=other_port), 401, "unauthorized")
            forged = {"Cookie": f"orcha-login-{port}={TOKEN}"}
            _refused(await stranger.get("/api/dashboard", headers=forged), 401, "unauthorized")


async def test_a_websocket_from_a_foreign_origin_is_refused_even_with_the_token(tmp_path):
    async with served(tmp_path, token=TOKEN) as srv:
        ws_url = srv.url.replace("http://", "ws://") + "/ws?token=" + TOKEN
        for origin in (EVIL, "null", srv.url.rsplit(":", 1)[0] + ":1"):
            rejected = await websocket_refusal(ws_url, extra_headers=[("Origin", origin)])
            assert rejected.status_code == 403
            assert json.loads(rejected.body)["error"]["code"] == "origin_not_allowed"
        port = int(srv.url.rsplit(":", 1)[1])
        handshake = (
            f"GET /ws?token={TOKEN} HTTP/1.1\r\nHost: rebind.evil.example:{port}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        async with await trio.open_tcp_stream("127.0.0.1", port) as raw:
            await raw.send_all(handshake.encode())
            reply = b""
            while b"\r\n\r\n" not in reply:
                reply += await raw.receive_some(4096)
        assert reply.startswith(b"HTTP/1.1 421")
        async with open_websocket_url(ws_url, extra_headers=[("Origin", srv.url)]) as ws:
            assert json.loads(await ws.get_message())["type"] == "snapshot"


async def test_mcp_refusals_use_orcha_s_error_format(tmp_path):
    async with served(tmp_path, token=TOKEN, scripts=idle_team) as srv:
        objective = (await srv.client.post("/api/objectives", json={"title": "t", "agent": "claude"})).json()
        manager = objective["manager_session_id"]
        await eventually(lambda: srv.store.get_session(manager).status is SessionStatus.RUNNING)
        url, secret = srv.orchestrator.mcp.endpoint(manager)
        assert srv.store.get_session(manager).role is SessionRole.MANAGER
        call = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
        headers = {"Authorization": f"Bearer {secret}", "Accept": "application/json, text/event-stream"}
        async with httpx.AsyncClient() as agent:
            _refused(
                await agent.post(url, json=call, headers={**headers, "Host": "rebind.evil.example"}),
                421,
                "host_not_allowed",
            )
            _refused(await agent.post(url, json=call, headers={**headers, "Origin": EVIL}), 403, "origin_not_allowed")
            text = {**headers, "Content-Type": "text/plain"}
            _refused(await agent.post(url, content=json.dumps(call), headers=text), 415, "unsupported_media_type")
            _refused(
                await agent.post(url, json=call, headers={**headers, "Authorization": f"Bearer {TOKEN}"}),
                401,
                "unauthorized",
            )
            listed = await agent.post(url, json=call, headers=headers)
            assert listed.status_code == 200 and "spawn_session" in listed.text


async def test_refusals_are_logged_without_the_token(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="orcha.web.security")
    async with served(tmp_path, token=TOKEN) as srv:
        await srv.client.post("/api/objectives%0Aforged log line", json=PWN, headers={"Origin": EVIL})
    [record] = [r for r in caplog.records if "origin_not_allowed" in r.getMessage()]
    assert "\nforged" not in record.getMessage() and TOKEN not in record.getMessage()
