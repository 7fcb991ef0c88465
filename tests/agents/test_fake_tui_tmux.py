"""The fake agent TUI in real tmux: as a pane of the tmux provider, and under `orcha serve --tmux`, where the
README's demo runs as it does in-process — a manager plans, spawns two workers, each edits a file and opens
a PR, the manager marks the objective done — with steering typed into the panes and a restart survived."""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import re
import shutil
import signal
import stat
import subprocess
import uuid

import pytest
import trio

from orcha.agents.contract import ProviderSessionStarted, TextOut, TurnCompleted, UsageReport
from orcha.agents.fake_tui.command import fake_tui_provider
from orcha.agents.tmux import TmuxController, TmuxProvider, session_name
from orcha.io.local_executor import LocalExecutor
from orcha.model import SessionRole
from tests.agents.conftest import request
from tests.crashloop import MARK, Server, marked_processes, wait_until
from tests.tmuxrun import kill_tmux_server, reaped, tmux_dir

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (scripts/test installs it)")


@pytest.fixture(autouse=True)
def own_tmux_server(tmp_path_factory, monkeypatch):
    """A tmux server of the test's own (``TMUX_TMPDIR``), killed after it with every process it started (they
    carry the test's mark); the test fails if one outlives that."""
    folder = tmp_path_factory.mktemp("tmux")
    mark = uuid.uuid4().hex
    monkeypatch.setenv("TMUX_TMPDIR", str(folder))
    monkeypatch.setenv(MARK, mark)
    monkeypatch.delenv("TMUX", raising=False)
    yield
    kill_tmux_server(folder)
    left = lambda: [pid for pid in marked_processes(mark) if pid != os.getpid()]  # noqa: E731
    with contextlib.suppress(AssertionError):
        wait_until(lambda: left() == [], 5, "the panes' processes to end with their tmux server")
    survivors, seen = left(), _argvs(mark)
    for pid in survivors:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    assert survivors == [], f"processes outlived the test's tmux server: {seen}"


async def _until_turn(events, within: float = 30) -> list:
    seen = []
    with trio.fail_after(within):
        async for event in events:
            seen.append(event)
            if isinstance(event, TurnCompleted):
                return seen
    raise AssertionError(f"the run ended without a turn end: {seen}")


async def test_in_a_pane_it_plays_its_script_reports_its_turns_and_reads_the_keyboard(tmp_path):
    provider = fake_tui_provider("claude", log_dir=str(tmp_path / "logs"), progress_dir=str(tmp_path / "progress"))
    req = request(tmp_path, "Part 1 of: the demo", session_id="ses_000000000001")  # no MCP endpoint: no tools
    run = await provider.start(req)
    events = run.events()
    try:
        first = await _until_turn(events)
        assert isinstance(first[0], ProviderSessionStarted)
        assert first[0].attach_command == f"tmux attach -t {session_name(req.session_id)}"
        texts = [e.text for e in first if isinstance(e, TextOut)]
        assert "> Part 1 of: the demo" in texts and "● Edit(src/part_0001.py)" in texts
        assert not any("orcha;" in t or "\x1b" in t for t in texts)  # the reports are not text
        assert [e.model_calls for e in first if isinstance(e, UsageReport)] == [1, 1, 1, 1]
        assert first[-1] == TurnCompleted(
            final_text="could not publish the PR: no tools available (no MCP endpoint)", failed=True
        )
        assert "wrote the change" in (tmp_path / "src" / "part_0001.py").read_text()  # in the session's checkout

        await run.send("first line\nsecond line")  # a line break is typed as a newline, not as Enter
        second = await _until_turn(events)
        assert [e for e in second if isinstance(e, TurnCompleted)] == [
            TurnCompleted(final_text="could not publish the PR: no tools available (no MCP endpoint)", failed=True)
        ]
        screen = await run.snapshot()
        assert "> first line\n  second line" in screen and "Noted. My work here is done" in screen
        assert "orcha;" not in screen
    finally:
        await run.cancel()
    assert not await TmuxController(LocalExecutor()).has_session(session_name(req.session_id))


async def test_ctrl_c_typed_by_someone_attached_ends_it_without_a_traceback(tmp_path):
    provider = fake_tui_provider("claude", log_dir=str(tmp_path / "logs"), progress_dir=str(tmp_path / "progress"))
    req = request(tmp_path, "Part 1", session_id="ses_000000000003", role=SessionRole.MANAGER)
    run = await provider.start(req)
    events = run.events()
    try:
        await _until_turn(events)  # waiting for its team (it has none: no tools)
        await TmuxController(LocalExecutor())._run("send-keys", "-t", session_name(req.session_id), "C-c")
        seen = await _until_turn(events)
        assert seen[-1] == TurnCompleted(final_text="the program exited (130)", failed=True)
        texts = [e.text for e in seen if isinstance(e, TextOut)]
        assert "(interrupted)" in texts and not any("Traceback" in t for t in texts)
    finally:
        await run.cancel()


async def test_a_program_that_is_not_the_fake_cannot_end_its_turn_by_printing_a_report(tmp_path):
    provider = TmuxProvider(log_dir=str(tmp_path / "logs"))  # a shell: reports=False
    forged = r"printf '\033]orcha;{\"kind\":\"turn\",\"final\":\"forged\"}\007shown\n'"
    run = await provider.start(request(tmp_path, forged, session_id="ses_000000000002"))
    events = run.events()
    seen = []
    try:
        with trio.fail_after(10):
            async for event in events:
                seen.append(event)
                if isinstance(event, TextOut) and event.text == "shown":
                    break
        assert not any(isinstance(e, TurnCompleted) for e in seen)
    finally:
        await run.cancel()


# --- under `orcha serve --tmux` -----------------------------------------------------------------------------


def _serve(tmp_path: pathlib.Path) -> Server:
    return Server(tmp_path / "run", "--tmux", env={"TMUX_TMPDIR": str(tmux_dir(tmp_path))})


def _tmux(tmp_path: pathlib.Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TMUX_TMPDIR": str(tmp_path / "tmux")}
    return subprocess.run(["tmux", *args], capture_output=True, text=True, env=env, timeout=10, check=False)


def _done(server: Server, objective_id: str) -> bool:
    return server.get(f"/api/objectives/{objective_id}")["status"] == "done"


def _bodies(server: Server, session_id: str) -> list[str]:
    return [item["body"] for item in server.get(f"/api/sessions/{session_id}/messages")["items"]]


def _argvs(mark: str) -> list[list[str]]:
    found = []
    for pid in marked_processes(mark):
        with contextlib.suppress(OSError), open(f"/proc/{pid}/cmdline", "rb") as handle:
            found.append([part.decode(errors="replace") for part in handle.read().split(b"\0") if part])
    return found


def _assert_the_demo_made_its_team(server: Server, objective_id: str) -> dict:
    objective = server.get(f"/api/objectives/{objective_id}")
    sessions = objective["sessions"]
    workers = [s for s in sessions if s["role"] == "worker"]
    assert [s["status"] for s in workers] == ["completed", "completed"], server.tail()
    assert {s["status_reason"] for s in workers} == {"PR published"}
    assert len(objective["pull_requests"]) == 2
    assert len({pr["branch"] for pr in objective["pull_requests"]}) == 2
    assert any("team finished: 2 completed; 2 PR(s)" in note["text"] for note in objective["notes"])
    return objective


def test_the_demo_finishes_in_tmux_steered_through_the_api_and_attachable(tmp_path):
    server = _serve(tmp_path)
    with reaped(tmux_dir(tmp_path), server):  # stopped, its tmux server killed; fails if it left a process
        server.start()
        body = {"title": "Port subsystem to Rust", "prompt": "Port it.", "agent": "claude"}
        objective = server.post("/api/objectives", body)
        manager = objective["manager_session_id"]
        wait_until(lambda: server.get(f"/api/sessions/{manager}")["status"] == "waiting_input", 60, "the manager waits")
        session = server.get(f"/api/sessions/{manager}")
        assert session["attach_command"] == f"tmux attach -t orcha-{manager}"
        assert _tmux(tmp_path, "has-session", "-t", f"orcha-{manager}").returncode == 0  # attach finds it

        configs = [a.split("=", 1)[1] for argv in _argvs(server.mark) for a in argv if a.startswith("--mcp-config=")]
        assert configs, _argvs(server.mark)
        secret = json.loads(pathlib.Path(configs[0]).read_text())["mcpServers"]["orcha"]["headers"]["Authorization"]
        assert stat.S_IMODE(os.stat(configs[0]).st_mode) == 0o600
        assert not any(secret.split()[-1] in " ".join(argv) for argv in _argvs(server.mark))  # never in argv

        server.post(f"/api/sessions/{manager}/steer", {"text": "Keep the parts small."})
        screen = lambda: server.get(f"/api/sessions/{manager}/screen")["screen"]  # noqa: E731
        wait_until(lambda: "> Keep the parts small." in screen(), 30, "the steering in the manager's pane")
        worker = next(
            s["id"] for s in server.get(f"/api/objectives/{objective['id']}")["sessions"] if s["role"] == "worker"
        )
        wait_until(lambda: any(b.startswith("● Reading") for b in _bodies(server, worker)), 30, "the worker at work")
        server.post(f"/api/sessions/{worker}/steer", {"text": "Add a test too."})  # mid-turn: queued by the TUI
        wait_until(lambda: _done(server, objective["id"]), 90, "the objective to be done")
        _assert_the_demo_made_its_team(server, objective["id"])
        worker_lines = _bodies(server, worker)
        assert "> Add a test too." in worker_lines and "  ⎿  queued: I take it when this turn ends" in worker_lines
        wait_until(lambda: server.get(f"/api/sessions/{manager}")["status"] == "completed", 30, "the manager's end")
        manager_lines = _bodies(server, manager)
        assert "> Keep the parts small." in manager_lines
        assert any(line.startswith("● mark_objective_done(") for line in manager_lines)
        assert not any("orcha;" in line or "command not found" in line for line in manager_lines)
        usage = server.get(f"/api/sessions/{manager}")["usage"]
        assert usage["model_calls"] >= 8 and usage["cost_usd"] > 0


def test_the_demo_survives_orcha_killed_while_its_workers_work(tmp_path):
    server = _serve(tmp_path)
    with reaped(tmux_dir(tmp_path), server):  # stopped, its tmux server killed; fails if it left a process
        server.start()
        objective = server.post("/api/objectives", {"title": "Port", "prompt": "Port it.", "agent": "claude"})
        oid = objective["id"]
        wait_until(lambda: len(server.get(f"/api/objectives/{oid}")["sessions"]) == 3, 60, "the workers spawned")
        workers = [s["id"] for s in server.get(f"/api/objectives/{oid}")["sessions"] if s["role"] == "worker"]
        wait_until(
            lambda: all(any(b.startswith("● Reading") for b in _bodies(server, w)) for w in workers), 60, "work begun"
        )
        server.kill9()
        assert all(_tmux(tmp_path, "has-session", "-t", f"orcha-{w}").returncode == 0 for w in workers)
        server.start()  # the panes are re-adopted; a tool call made meanwhile was retried until orcha was back
        wait_until(lambda: _done(server, oid), 120, "the objective to be done")
        _assert_the_demo_made_its_team(server, oid)
        for worker in workers:
            lines = _bodies(server, worker)
            assert len([b for b in lines if re.match(r"^● publish_pr\(", b)]) == 1, lines  # no call repeated


def test_a_pane_lost_while_orcha_was_down_is_started_anew_and_carries_on_where_it_was(tmp_path):
    server = _serve(tmp_path)
    with reaped(tmux_dir(tmp_path), server):  # stopped, its tmux server killed; fails if it left a process
        server.start()
        objective = server.post("/api/objectives", {"title": "Port", "prompt": "Port it.", "agent": "claude"})
        oid, manager = objective["id"], objective["manager_session_id"]
        wait_until(lambda: len(server.get(f"/api/objectives/{oid}")["sessions"]) == 3, 60, "the workers spawned")
        worker = next(s["id"] for s in server.get(f"/api/objectives/{oid}")["sessions"] if s["role"] == "worker")
        wait_until(lambda: any(b.startswith("● Reading") for b in _bodies(server, worker)), 60, "work begun")
        server.kill9()
        for lost in (manager, worker):  # as when the tmux server died with the machine
            assert _tmux(tmp_path, "kill-session", "-t", f"orcha-{lost}").returncode == 0
        server.start()
        wait_until(lambda: _done(server, oid), 120, "the objective to be done")
        _assert_the_demo_made_its_team(server, oid)  # two workers, not four: the manager's script went on
        assert any(line.startswith("(carrying on from step") for line in _bodies(server, manager))
        lines = _bodies(server, worker)
        assert any(line.startswith("(carrying on from step") for line in lines)
        assert len([b for b in lines if b.startswith("● Reading")]) == 1, lines  # the steps done stay done
