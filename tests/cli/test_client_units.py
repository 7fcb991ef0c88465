"""The command line's pure parts: SSE parsing, folding websocket messages, ids by prefix, what is printed."""

from __future__ import annotations

import os

import pytest

from orcha.cli._client import DEFAULT_URL, ClientError, find_server
from orcha.cli._output import ago, clean, line_summary, one_line
from orcha.cli._remote import pick
from orcha.cli._sessions import attach_argv, pr_label, session_rows
from orcha.cli._sse import SseEvent, SseParser
from orcha.cli._targets import unshown
from orcha.cli._watch import apply_message, websocket_url


def _events(text: str) -> list[SseEvent]:
    parser = SseParser()
    return [e for e in (parser.feed(line) for line in text.split("\n")) if e is not None]


def test_sse_events_are_parsed_as_orcha_sends_them():
    stream = (
        'retry: 2000\n\nid: 3\nevent: line\ndata: {"seq":3,"body":"a"}\n\n: keep-alive\n\nevent: end\ndata: {"x"\n\n'
    )
    line, end = _events(stream)
    assert line == SseEvent(event="line", data={"seq": 3, "body": "a"}, id="3")
    assert end == SseEvent(event="end", data='{"x"', id=None)  # not JSON: kept as text
    assert _events("data: a\ndata: b\n\n") == [SseEvent(event="message", data="a\nb")]


def test_websocket_messages_fold_into_the_dashboard():
    snapshot = {"type": "snapshot", "dashboard": {"sessions": [{"id": "s1", "status": "queued"}], "targets": []}}
    board = apply_message({}, snapshot)
    moved = apply_message(
        board, {"type": "delta", "kind": "session", "id": "s1", "row": {"id": "s1", "status": "running"}}
    )
    assert moved["sessions"] == [{"id": "s1", "status": "running"}] and board["sessions"][0]["status"] == "queued"
    added = apply_message(moved, {"type": "delta", "kind": "session", "id": "s2", "row": {"id": "s2"}})
    assert [s["id"] for s in added["sessions"]] == ["s1", "s2"]
    replaced = apply_message(
        added, {"type": "delta", "kind": "session", "id": "s1", "row": {"id": "s1", "status": "x"}}
    )
    assert [s["id"] for s in replaced["sessions"]] == ["s1", "s2"]  # a changed row keeps its place
    gone = apply_message(added, {"type": "delta", "kind": "question", "id": "q1", "row": None})
    assert gone["open_questions"] == []
    now = {"s2": {"now": "Edit src/app.py", "last_output_at": 12.5}}
    active = apply_message(added, {"type": "activity", "sessions": ["s2"], "now": now})
    assert active["sessions"][1] == {"id": "s2", "now": "Edit src/app.py", "last_output_at": 12.5}
    assert apply_message(added, {"type": "activity", "sessions": ["s2"]}) == added  # an older server: no "now"
    assert apply_message(added, {"type": "delta", "kind": "unknown", "id": "x", "row": {}}) == added


def test_a_prefix_names_one_id_or_says_which_it_could_be():
    assert pick("session", "ses_ab", ["ses_abc", "ses_xyz"]) == "ses_abc"
    assert pick("session", "ses_q", ["ses_abc"]) is None
    with pytest.raises(ClientError, match="several sessions: ses_a1, ses_a2"):
        pick("session", "ses_a", ["ses_a1", "ses_a2"])


def test_the_attach_command_is_split_without_a_shell():
    remote = {"id": "s", "attach_command": "ssh -t -p 2222 'dev@box' tmux attach -t orcha-s"}
    assert attach_argv(remote) == ["ssh", "-t", "-p", "2222", "dev@box", "tmux", "attach", "-t", "orcha-s"]
    with pytest.raises(ClientError, match="no terminal to attach to"):
        attach_argv({"id": "s", "attach_command": None})


def test_text_from_the_server_cannot_drive_the_terminal():
    assert clean("red \x1b[31mtext\x07\r") == "red \ufffd[31mtext\ufffd\ufffd"
    assert one_line("\n\n  first line  \nsecond") == "first line"
    assert one_line("x" * 200) == "x" * 159 + "…"
    assert ago(100.0, now=104.9) == "4s" and ago(0.0, now=7200) == "2h" and ago(None) == ""


def test_tool_calls_are_one_liners_and_the_server_s_summary_wins():
    body = '{"tool": "Edit", "arguments": {"old": "a", "file_path": "src/app.py"}}'
    assert line_summary({"kind": "tool_call", "body": body}) == "Edit src/app.py"  # as the server makes them
    assert line_summary({"kind": "tool_call", "body": "not json\nat all"}) == "not json"
    assert line_summary({"kind": "tool_call", "body": body, "summary": "Edit src/app.py (3 lines)"}) == (
        "Edit src/app.py (3 lines)"
    )
    assert line_summary({"kind": "tool_result", "body": "ok\nmore"}) == "ok"


def test_session_rows_leave_fields_an_older_server_lacks_empty():
    [row] = session_rows([{"id": "s1", "role": "worker", "agent": "claude", "status": "running"}], {})
    assert [str(cell) for cell in row] == ["s1", "worker", "claude", "running", "", "", "", "", "", ""]
    full = {
        "id": "s2",
        "status": "running",
        "task": "Port the parser",
        "now": "Edit a.py",
        "last_output_at": 90.0,
        "usage": {"cost_usd": 1.5},
        "target_id": "tgt_1",
        "pr_url": "https://github.com/o/r/pull/12",
    }
    [row] = session_rows([full], {"tgt_1": "gpu-box"}, now=100.0)
    assert [str(cell) for cell in row][4:] == ["Port the parser", "Edit a.py", "10s", "$1.50", "gpu-box", "#12"]
    assert pr_label("https://forge.example/x") == "https://forge.example/x"


def test_the_doctor_s_report_fills_in_only_what_the_stream_did_not_show():
    checks = [{"name": "work_root"}, {"name": "git"}, {"name": "tmux"}]
    assert unshown(checks, []) == checks
    assert unshown(checks, ["work_root"]) == checks[1:]
    assert unshown(checks, ["work_root", "git", "tmux"]) == []
    assert unshown(checks, ["work_root", "git", "tmux", "work_root"]) == checks[1:]  # a second run had begun


def test_the_server_and_its_token_are_found_and_the_token_file_is_never_made(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    found = find_server(None, None, env={})
    assert found.url == DEFAULT_URL and found.token is None and found.token_source == "none"
    assert not os.path.exists(tmp_path / "orcha")
    assert find_server(None, None, env={"ORCHA_URL": "http://h:1/", "ORCHA_TOKEN": " t "}).token == "t"
    flagged = find_server("http://x:2", "flag-token", env={"ORCHA_URL": "http://h:1", "ORCHA_TOKEN": "t"})
    assert (flagged.url, flagged.token, flagged.token_source) == ("http://x:2", "flag-token", "--token")
    (tmp_path / "orcha").mkdir(mode=0o700)
    (tmp_path / "orcha" / "token").write_text("stored\n")
    (tmp_path / "orcha" / "token").chmod(0o600)
    assert find_server(None, None, env={}).token == "stored"
    (tmp_path / "orcha" / "token").chmod(0o644)
    with pytest.raises(ClientError, match="cannot read the token file"):
        find_server(None, None, env={})
    assert websocket_url("https://h:1") == "wss://h:1/ws" and websocket_url("http://h:1") == "ws://h:1/ws"
