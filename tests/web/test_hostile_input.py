"""Hostile input over real HTTP: every class the fuzzer found answers a JSON 4xx, and nothing is stored.

Bodies that are not UTF-8 or nest deeply, lone surrogates, NUL bytes, integers past 64 bits, unknown fields,
out-of-range query parameters and ``Last-Event-ID``; Quart's own 404/405/413 in orcha's error format; and a
keep-alive connection whose body arrives after orcha answered still serves its next request.
"""

from __future__ import annotations

import json

import httpx
import pytest
import trio

from tests.web.harness import first_chunk, served

TOKEN = "hostile-input-token"
JSON = {"Content-Type": "application/json"}
GOOD_OBJECTIVE = {"title": "t", "agent": "claude"}
GOOD_TARGET = {"name": "box", "kind": "local", "work_root": "/tmp/orcha-hostile-w"}


def _error(response: httpx.Response, status: int, field: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert isinstance(error["code"], str) and isinstance(error["message"], str) and error["message"]
    assert set(error) <= {"code", "message", "field"}
    if field is not None:
        assert error.get("field") == field, error
    return error


async def _post_raw(srv, path: str, raw: bytes) -> httpx.Response:
    return await srv.client.post(path, content=raw, headers=JSON)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"title": "caf\xe9", "agent": "claude"}', "UTF-8"),
        (b"\xff\xfe{}", "UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "nests deeper"),
        (b'{"title": ' + b'{"a": ' * 40 + b"1" + b"}" * 40 + b', "agent": "claude"}', "nests deeper"),
        (b'{"title": "t", "agent": "claude", "prompt": NaN}', "not a JSON number"),
        (b'{"title": "t", "agent": "claude", "prompt": 1e999}', "out of range"),
        (b'{"title": ' + b"9" * 5000 + b', "agent": "claude"}', "not valid JSON"),
        (b'{"title": "t", "agent": "claude"', "not valid JSON"),
        (b"[1, 2]", "JSON object"),
    ],
    ids=["latin1", "bom16", "deep-array", "deep-field", "nan", "inf", "digits", "truncated", "array"],
)
async def test_bodies_that_are_not_plain_utf8_json_objects_are_a_400(tmp_path, raw, message):
    async with served(tmp_path) as srv:
        error = _error(await _post_raw(srv, "/api/objectives", raw), 400)
        assert message in error["message"]
        assert srv.store.list_objectives() == []


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/objectives", {**GOOD_OBJECTIVE, "title": "a\x00b"}, "title"),
        ("/api/objectives", {**GOOD_OBJECTIVE, "repo": "/tmp/x\x00.git"}, "repo"),
        ("/api/objectives", {**GOOD_OBJECTIVE, "prompt": "\ud800"}, "prompt"),
        ("/api/objectives", {**GOOD_OBJECTIVE, "agent": "claude\udfff"}, "agent"),
        ("/api/targets", {**GOOD_TARGET, "work_root": "/tmp/w\x00"}, "work_root"),
        ("/api/targets", {**GOOD_TARGET, "name": "\ud83d"}, "name"),
        ("/api/targets", {**GOOD_TARGET, "port": 2**64}, "port"),
        ("/api/targets", {**GOOD_TARGET, "capacity_sessions": 10**30}, "capacity_sessions"),
        ("/api/targets", {**GOOD_TARGET, "capacity_sessions": -(2**63) - 1}, "capacity_sessions"),
        ("/api/targets", {**GOOD_TARGET, "capacity_sessions": 1001}, "capacity_sessions"),
        ("/api/targets", {**GOOD_TARGET, "port": 70000}, "port"),
        ("/api/targets", {**GOOD_TARGET, "port": True}, "port"),
        ("/api/targets", {**GOOD_TARGET, "port": 22.5}, "port"),
        ("/api/targets", {**GOOD_TARGET, "bootstrap": {"nested": ["\x00"]}}, "bootstrap"),
        ("/api/objectives", {**GOOD_OBJECTIVE, "title": "x" * 401}, "title"),
        ("/api/objectives", {**GOOD_OBJECTIVE, "base_branch": "b" * 256}, "base_branch"),
    ],
)
async def test_nul_surrogates_huge_ints_and_overlong_strings_are_a_400_naming_the_field(tmp_path, path, body, field):
    async with served(tmp_path) as srv:
        # json.dumps escapes lone surrogates as \ud800: valid JSON text that decodes to an unencodable str
        _error(await _post_raw(srv, path, json.dumps(body).encode()), 400, field)
        assert srv.store.list_objectives() == []
        assert [t.name for t in srv.store.list_targets()] == ["local"]
        assert (await srv.client.get("/api/targets")).status_code == 200  # nothing half-made answers 500 later


async def test_a_hostile_key_is_named_safely(tmp_path):
    async with served(tmp_path) as srv:
        error = _error(await _post_raw(srv, "/api/objectives", b'{"\\ud800": 1, "title": "t", "agent": "claude"}'), 400)
        assert error["field"] == "\\ud800"  # escaped: the reply is valid UTF-8 JSON
        error = _error(await _post_raw(srv, "/api/objectives", b'{"a\\u0000b": 1}'), 400)
        assert error["field"] == "a\\x00b"


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/objectives", {**GOOD_OBJECTIVE, "repository": "/tmp/r.git"}, "repository"),
        ("/api/objectives", {**GOOD_OBJECTIVE, "base_brach": "dev"}, "base_brach"),
        ("/api/objectives/obj_x/cancel", {"reason": "r", "why": "w"}, "why"),
        ("/api/sessions/ses_x/steer", {"text": "t", "answer": "a"}, "answer"),
        ("/api/sessions/ses_x/cancel", {"reason": "r", "force": True}, "force"),
        ("/api/sessions/ses_x/resume", {"prompt": "again"}, "prompt"),
        ("/api/questions/q_x/answer", {"answer": "a", "text": "t"}, "text"),
        ("/api/targets", {**GOOD_TARGET, "hostname": "h"}, "hostname"),
        ("/api/targets/tgt_x/drain", {"now": True}, "now"),
    ],
)
async def test_an_unknown_field_is_a_400_naming_it_on_every_post(tmp_path, path, body, field):
    async with served(tmp_path) as srv:
        error = _error(await srv.client.post(path, json=body), 400, field)
        assert field in error["message"]
        assert srv.store.list_objectives() == []


async def test_optional_null_fields_count_as_absent(tmp_path):
    async with served(tmp_path) as srv:
        created = await srv.client.post("/api/objectives", json={**GOOD_OBJECTIVE, "repo": None, "prompt": None})
        assert created.status_code == 201, created.text
        assert created.json()["repo"] is None and created.json()["prompt"] == "t"
        _error(await srv.client.post("/api/objectives", json={"title": None, "agent": "claude"}), 400, "title")


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/sessions/{sid}/messages?after=99999999999999999999", "after"),
        ("/api/sessions/{sid}/messages?after=9223372036854775808", "after"),
        ("/api/sessions/{sid}/messages?after=-1", "after"),
        ("/api/sessions/{sid}/messages?after=%D9%A1", "after"),  # an Arabic-Indic digit: int() would take it
        ("/api/sessions/{sid}/messages?after=1_000", "after"),
        ("/api/sessions/{sid}/messages?limit=0", "limit"),
        ("/api/sessions/{sid}/messages?limit=18446744073709551617", "limit"),
        ("/api/objectives?limit=" + "9" * 5000, "limit"),
        ("/api/objectives?status=%00", "status"),
        ("/api/questions?objective_id=obj%00", "objective_id"),
        ("/api/prs?objective_id=" + "x" * 5000, "objective_id"),
        ("/api/sessions/{sid}/stream?after=18446744073709551616", "after"),
        ("/api/events/stream?after=-5", "after"),
    ],
)
async def test_query_parameters_out_of_bounds_are_a_400(tmp_path, path, field):
    async with served(tmp_path) as srv:
        sid = (await srv.client.post("/api/objectives", json=GOOD_OBJECTIVE)).json()["manager_session_id"]
        _error(await srv.client.get(path.format(sid=sid)), 400, field)


@pytest.mark.parametrize("value", ["18446744073709551616", "9" * 400, "-1", "abc", "1.5", "\u0661"])
async def test_a_bad_last_event_id_is_a_400_before_the_stream_starts(tmp_path, value):
    async with served(tmp_path) as srv:
        sid = (await srv.client.post("/api/objectives", json=GOOD_OBJECTIVE)).json()["manager_session_id"]
        for path in (f"/api/sessions/{sid}/stream", "/api/events/stream"):
            headers = {"Last-Event-ID": value.encode("utf-8")}
            async with srv.client.stream("GET", path, headers=headers) as response:
                await response.aread()
                _error(response, 400, "Last-Event-ID")
        # the bound itself is fine: a stream resumed past everything just waits
        async with srv.client.stream(
            "GET", "/api/events/stream", headers={"Last-Event-ID": str(2**63 - 1)}
        ) as response:
            assert response.status_code == 200
            assert await first_chunk(response)  # the retry: line, then it waits


async def test_path_ids_with_nul_or_past_any_id_length_are_404(tmp_path):
    async with served(tmp_path) as srv:
        for path in ("/api/sessions/ses%00x", "/api/objectives/" + "o" * 5000, "/api/targets/t%00/doctor"):
            method = "POST" if path.endswith("doctor") else "GET"
            _error(await srv.client.request(method, path, headers=JSON), 404)


async def test_quarts_own_errors_are_in_the_error_format(tmp_path):
    async with served(tmp_path) as srv:
        missing = _error(await srv.client.get("/api/no/such/route"), 404)
        assert missing["code"] == "not_found"
        wrong = await srv.client.delete("/api/objectives")
        assert _error(wrong, 405)["code"] == "method_not_allowed"
        assert set(wrong.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "POST"}
        assert "POST" in (await srv.client.put("/api/sessions/ses_x/steer", headers=JSON)).headers["Allow"]
        too_big = await _post_raw(srv, "/api/objectives", b'{"title": "' + b"x" * (5 * 1024 * 1024) + b'"}')
        assert _error(too_big, 413)["code"] == "payload_too_large"
        assert srv.store.list_objectives() == []


async def _read_response(stream: trio.SocketStream) -> tuple[bytes, bytes]:
    """One HTTP/1.1 response with a Content-Length: (head, body)."""
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        chunk = await stream.receive_some(65536)
        assert chunk, f"the connection closed: {buffer!r}"
        buffer += chunk
    head, _, body = buffer.partition(b"\r\n\r\n")
    lengths = [line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")]
    length = int(lengths[0].split(b":")[1])
    while len(body) < length:
        chunk = await stream.receive_some(65536)
        assert chunk, f"the connection closed mid-body: {head!r}"
        body += chunk
    assert len(body) == length
    return head, body


@pytest.mark.parametrize(
    ("method", "path", "auth", "status"),
    [
        ("POST", "/api/objectives", False, b"401"),
        ("POST", "/api/no-such-route", True, b"404"),
        ("PUT", "/api/objectives", True, b"405"),
        ("POST", "/mcp/ses_nothing", False, b"404"),
    ],
)
async def test_a_body_that_arrives_after_the_answer_leaves_the_connection_usable(tmp_path, method, path, auth, status):
    """Headers with Content-Length, the early answer, then the body, then a second request on that connection."""
    async with served(tmp_path, token=TOKEN) as srv:
        host, port = srv.url.removeprefix("http://").split(":")
        body = json.dumps(GOOD_OBJECTIVE).encode()
        authorization = f"Authorization: Bearer {TOKEN}\r\n" if auth else ""
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n{authorization}"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        async with await trio.open_tcp_stream(host, int(port)) as stream:
            with trio.fail_after(10):
                await stream.send_all(head)
                first, error = await _read_response(stream)
                assert first.split(b" ")[1] == status and json.loads(error)["error"]["code"]
                # a full round trip on another connection: the server has finished with the first answer
                assert (await srv.client.get("/healthz")).status_code == 200
                await stream.send_all(body)
                await stream.send_all(f"GET /healthz HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
                second, answer = await _read_response(stream)
        assert second.split(b" ")[1] == b"200" and json.loads(answer) == {"status": "ok"}
        assert srv.store.list_objectives() == []


async def test_a_body_announced_past_the_drain_limit_is_answered_with_connection_close(tmp_path):
    async with served(tmp_path, token=TOKEN) as srv:
        host, port = srv.url.removeprefix("http://").split(":")
        head = (
            f"POST /api/objectives HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {1024**3}\r\n\r\n"
        ).encode()
        async with await trio.open_tcp_stream(host, int(port)) as stream:
            with trio.fail_after(10):
                await stream.send_all(head)
                first, _ = await _read_response(stream)
        assert first.split(b" ")[1] == b"401"
        assert b"connection: close" in first.lower()
