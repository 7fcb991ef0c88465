"""The fake agent TUI as a program (`python -m orcha.cli.fake_tui`, no terminal): a secret file it cannot
read, and an MCP endpoint that is down, fail clearly; its MCP client against a real orcha server."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import trio

from orcha.agents.fake import Say, Wait
from orcha.agents.fake_tui.player import OrchaUnreachableError
from orcha.agents.pane_reports import PaneReports
from orcha.agents.tmux import clean
from orcha.model import SessionStatus
from orcha.web.mcp_client import McpConfigError, McpEndpoint, McpTools, backoff, read_mcp_config
from tests.web.harness import eventually, served

WORKER = ["--session", "ses_0000000000ab", "--objective", "obj_000000000001", "--role", "worker"]


def _tui(*args: str, stdin: str = "", timeout: float = 60) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "orcha.cli.fake_tui", *WORKER, *args]
    return subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=timeout, check=False)


def _events(stdout: str) -> tuple[list[str], list]:
    reports = PaneReports()
    lines, events = [], []
    for raw in stdout.splitlines():
        visible, found = reports.feed(raw)
        lines.append(clean(visible))
        events.extend(found)
    return lines, events


def test_a_missing_secret_file_fails_with_a_clear_message_and_a_failed_turn(tmp_path):
    done = _tui(f"--mcp-config={tmp_path / 'gone.json'}")
    assert done.returncode == 2
    assert "Traceback" not in done.stdout + done.stderr
    lines, events = _events(done.stdout)
    message = f"cannot read the MCP config {tmp_path / 'gone.json'}: No such file or directory"
    assert f"✗ {message}" in lines
    assert [(e.final_text, e.failed) for e in events] == [(message, True)]  # orcha fails the session with it


def test_an_unreadable_or_malformed_secret_file_fails_clearly(tmp_path):
    (tmp_path / "dir.json").mkdir()
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "other.json").write_text(json.dumps({"mcpServers": {"else": {"url": "http://x"}}}))
    expected = {
        "dir.json": "cannot read the MCP config {}: Is a directory",
        "bad.json": "the MCP config {} is not JSON",
        "other.json": "the MCP config {} has no http server 'orcha' with a url",
    }
    for name, message in expected.items():
        done = _tui(f"--mcp-config={tmp_path / name}")
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        assert f"✗ {message.format(tmp_path / name)}" in _events(done.stdout)[0]


def test_orcha_down_is_retried_with_backoff_then_the_turn_fails_saying_why(tmp_path):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = tmp_path / "mcp.json"
    url = f"http://127.0.0.1:{port}/mcp/ses_0000000000ab"
    secret = "s3cret-never-printed-0123456789"
    config.write_text(
        json.dumps({"mcpServers": {"orcha": {"url": url, "headers": {"Authorization": f"Bearer {secret}"}}}})
    )
    done = _tui(f"--mcp-config={config}", "--retry-for=10", stdin="Part 1 of: x\n")  # room for 3 tries, slow or not
    assert done.returncode == 1  # its last turn failed, then its input ended
    assert "Traceback" not in done.stderr and secret not in done.stdout + done.stderr
    lines, events = _events(done.stdout)
    retries = [line for line in lines if "orcha unreachable" in line]
    assert len(retries) >= 3 and "try 2 in 0.5 s" in retries[0] and "try 3 in 1 s" in retries[1], lines
    [turn] = [e for e in events if type(e).__name__ == "TurnCompleted"]
    assert turn.failed and turn.final_text.startswith(f"cannot reach orcha at {url} (")
    assert "ConnectError" in turn.final_text


def test_the_backoff_grows_and_then_stays():
    assert [backoff(n) for n in range(1, 9)] == [0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 15.0, 15.0]


def test_reading_a_config_keeps_the_secret_out_of_its_repr(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(
        json.dumps({"mcpServers": {"orcha": {"url": "http://h/mcp/s", "headers": {"Authorization": "B x"}}}})
    )
    endpoint = read_mcp_config(str(path))
    assert endpoint == McpEndpoint(url="http://h/mcp/s", headers={"Authorization": "B x"})
    assert "B x" not in repr(endpoint)
    path.write_text(json.dumps({"mcpServers": {"orcha": {"url": "file:///etc/passwd"}}}))
    try:
        read_mcp_config(str(path))
    except McpConfigError as exc:
        assert "has no http server" in str(exc)
    else:
        raise AssertionError("a non-http url was accepted")


def _idle(request):
    return [Say("here"), Wait(3600)]


async def test_the_mcp_client_calls_a_real_orcha_and_a_wrong_secret_is_refused_at_once(tmp_path):
    async with served(tmp_path, scripts=_idle) as srv:
        objective = (await srv.client.post("/api/objectives", json={"title": "t", "agent": "claude"})).json()
        manager = objective["manager_session_id"]
        await eventually(lambda: srv.store.get_session(manager).status is SessionStatus.RUNNING)
        url, secret = srv.orchestrator.mcp.endpoint(manager)
        assert url is not None
        tools = McpTools(McpEndpoint(url=url, headers={"Authorization": f"Bearer {secret}"}))
        listed = await tools.call("list_sessions", {})
        assert not listed.is_error and [s["id"] for s in listed.data["sessions"]] == [manager]
        refused = await tools.call("cancel_session", {"session": manager})
        assert refused.is_error and "may not cancel itself" in refused.text
        retried: list[int] = []
        wrong = McpTools(
            McpEndpoint(url=url, headers={"Authorization": "Bearer wrong-secret-000000"}),
            on_retry=lambda attempt, delay, error: retried.append(attempt),
        )
        with trio.fail_after(20):
            try:
                await wrong.call("list_sessions", {})
            except OrchaUnreachableError as exc:
                assert "refused this session's MCP secret (401)" in str(exc)
            else:
                raise AssertionError("a wrong secret was accepted")
        assert retried == []  # a refusal is final: no retry
        foreign = McpTools(
            McpEndpoint(url=url, headers={"Authorization": f"Bearer {secret}", "Origin": "http://evil.example"})
        )
        with trio.fail_after(20):
            try:
                await foreign.call("list_sessions", {})
            except OrchaUnreachableError as exc:
                assert "orcha refused the MCP request (403)" in str(exc)
            else:
                raise AssertionError("a request from a foreign origin was accepted")
