"""Crashes and restarts cost nothing: `orcha serve` killed with SIGKILL again and again makes what an
uninterrupted run makes, loses no line an SSE client saw, and leaves no process and no held slot behind."""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import subprocess

import apsw
import pytest

from orcha.processes import MARK_VARIABLE, SESSION_VARIABLE
from tests.crashloop import (
    Readers,
    Server,
    SseReader,
    all_done,
    crash_loop,
    marked_processes,
    stored_lines,
    tally,
    wait_until,
)
from tests.gitfixtures import Origin
from tests.procs import is_dead

KILLS = 10
SEED = int(os.environ.get("ORCHA_CRASH_SEED", "1515"))
TITLES = ("alpha", "beta", "gamma")


def _run(root: pathlib.Path, *, kills: int, repo: str | None) -> tuple[dict, Readers | None, Server]:
    server = Server(root, "--schedule-interval", "0.2")
    server.start()
    body = {"prompt": "Do the thing.", "agent": "claude", **({"repo": repo} if repo else {})}
    objective_ids = [server.post("/api/objectives", {**body, "title": title})["id"] for title in TITLES]
    readers = Readers(server) if kills else None
    if readers is not None:
        readers.follow(objective_ids)
        crash_loop(server, objective_ids, kills=kills, seed=SEED, readers=readers)
    wait_until(
        lambda: all_done(server, objective_ids),
        120,
        "every objective to be done",
        poll=(lambda: readers.follow(objective_ids)) if readers is not None else lambda: None,
    )
    if readers is not None:
        readers.follow(objective_ids)
        readers.finish()
    server.stop()
    return tally(server.db), readers, server


@pytest.mark.parametrize("with_repo", [False, True], ids=["plain", "bare-repo"])
def test_a_crash_loop_makes_what_an_uninterrupted_run_makes(tmp_path, with_repo):
    repo = str(Origin(tmp_path).path) if with_repo else None
    calm, _, _ = _run(tmp_path / "calm", kills=0, repo=repo)
    crashed, readers, server = _run(tmp_path / "crashed", kills=KILLS, repo=repo)
    assert readers is not None
    failure = f"seed {SEED} (ORCHA_CRASH_SEED); server log:\n{server.tail()}"

    assert calm["integrity"] == crashed["integrity"] == [("ok",)]
    assert all(o["status"] == "done" for o in crashed["objectives"].values()), failure
    assert crashed["objectives"] == calm["objectives"], failure  # workers, PRs, questions, notes, checkouts
    expected = {"workers": 2, "managers": 1, "prs": 2, "questions": 1, "checkouts": 2 if with_repo else 0}
    assert all(o[k] == v for o in calm["objectives"].values() for k, v in expected.items()), calm
    assert crashed["branches_with_two_prs"] == []
    assert crashed["slots_held"] == crashed["locks_held"] == crashed["owned_processes"] == 0
    for session_id, reader in readers.by_session.items():  # every line a client saw is stored, once
        stored = stored_lines(server.db, session_id)
        assert reader.lines == stored[: len(reader.lines)], f"{session_id}: {failure}"
        assert len({seq for seq, _, _ in reader.lines}) == len(reader.lines)
    assert marked_processes(server.mark) == []


def test_a_tmux_pane_that_prints_while_orcha_is_down_loses_no_line(tmp_path):
    (tmp_path / "tmux").mkdir(mode=0o700)
    server = Server(tmp_path / "run", "--tmux", env={"TMUX_TMPDIR": str(tmp_path / "tmux")})
    server.start()
    prompt = "for i in $(seq 1 600); do echo line-$i; sleep 0.02; done; echo all-printed"
    objective = server.post("/api/objectives", {"title": "printer", "prompt": prompt, "agent": "shell"})
    manager = objective["manager_session_id"]
    reader = SseReader(server, manager)
    reader.start()
    crash_loop(server, [objective["id"]], kills=4, seed=SEED, between=(0.4, 1.2))
    wait_until(lambda: server.get(f"/api/sessions/{manager}")["status"] == "running", 30, "the pane re-adopted")
    took = server.stop()  # a graceful stop, mid-print: fast, and the pane is left running
    assert took < 2.0, f"SIGTERM took {took:.2f}s"
    assert _tmux(tmp_path, "has-session", "-t", f"orcha-{manager}").returncode == 0
    assert _events(server, "session_interrupted") == [manager]
    server.start()
    wait_until(lambda: any(b == "all-printed" for _, _, b in _lines(server, manager)), 60, "the last line")
    printed = [body for _, kind, body in _lines(server, manager) if body.startswith("line-")]
    assert printed == [f"line-{i}" for i in range(1, 601)], server.tail()  # once each, in order
    screens: list[str] = []
    wait_until(lambda: bool(screens.append(server.get(f"/api/sessions/{manager}/screen")["screen"])) or True, 10, "")
    screen = screens[-1]
    assert "command not found" not in screen and "restarted" not in screen  # no notice typed into bash
    server.post(f"/api/objectives/{objective['id']}/cancel", {})
    wait_until(lambda: server.get(f"/api/sessions/{manager}")["status"] == "canceled", 30, "the cancel")
    reader.stopping.set()
    server.stop()
    assert reader.lines == stored_lines(server.db, manager)[: len(reader.lines)]
    wait_until(lambda: marked_processes(server.mark) == [], 10, f"no process left: {_commands(server.mark)}")


def _commands(mark: str) -> list[str]:
    commands = []
    for pid in marked_processes(mark):
        with contextlib.suppress(OSError), open(f"/proc/{pid}/cmdline", "rb") as handle:
            argv = handle.read().replace(b"\0", b" ").decode(errors="replace")
            commands.append(f"{pid}: {argv}")
    return commands


def _tmux(tmp_path: pathlib.Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TMUX_TMPDIR": str(tmp_path / "tmux")}
    return subprocess.run(["tmux", *args], capture_output=True, text=True, env=env, timeout=10)


def _environ(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/environ", "rb") as handle:
        entries = handle.read().split(b"\0")
    return dict(e.decode("utf-8", "replace").split("=", 1) for e in entries if b"=" in e)


def _count(server: Server, sql: str) -> int:
    conn = apsw.Connection(str(server.db))
    try:
        return int(conn.execute(sql).fetchone()[0])
    finally:
        conn.close()


def _events(server: Server, kind: str) -> list[str]:
    conn = apsw.Connection(str(server.db))
    try:
        return [str(row[0]) for row in conn.execute("SELECT session_id FROM events WHERE kind = ?", (kind,))]
    finally:
        conn.close()


def _lines(server: Server, session_id: str) -> list[tuple[int, str, str]]:
    return stored_lines(server.db, session_id)


def test_agent_processes_a_killed_orcha_left_are_stopped_at_the_next_start(tmp_path):
    fake_bin = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "bin"
    env = {
        "PATH": f"{fake_bin}{os.pathsep}{os.environ['PATH']}",
        "FAKE_CLAUDE_HOME": str(tmp_path / "claude-home"),
        "FAKE_CLAUDE_SLOW": "60",
        "FAKE_CLAUDE_ALL_SLOW": "1",  # a resumed turn is slow too: every kill leaves an agent mid-turn
        "FAKE_CLAUDE_LOG": str(
            tmp_path / "claude.log"
        ),  # a resumed turn is slow too: every kill leaves an agent mid-turn
    }
    server = Server(tmp_path / "run", "--real-agents", env=env)
    server.start()
    objective = server.post("/api/objectives", {"title": "slow", "prompt": "a slow objective", "agent": "claude"})
    manager = objective["manager_session_id"]
    killed = []
    for _ in range(3):
        agents = _wait_for_agents(server, fake_bin)
        for pid in agents:  # marked with its database and session, not recorded: found by the mark at the start
            assert (_environ(pid)[MARK_VARIABLE], _environ(pid)[SESSION_VARIABLE]) == (str(server.db), manager)
        assert _count(server, "SELECT COUNT(*) FROM owned_processes") == 0
        server.kill9()
        assert all(_alive(pid) for pid in agents)  # what a crash leaves: the agent runs on, orphaned
        server.start()  # the boot sweep has run by the time it answers
        assert not any(_alive(pid) for pid in agents), _commands(server.mark)
        killed.extend(agents)
    _wait_for_agents(server, fake_bin)
    took = server.stop()  # with a live agent: it is stopped, the session recorded as interrupted, all in < 2 s
    assert took < 2.0, f"SIGTERM took {took:.2f}s"
    assert marked_processes(server.mark) == [], _commands(server.mark)
    assert manager in _events(server, "session_interrupted")
    assert len(_events(server, "owned_process_killed")) >= 3
    found = "SELECT COUNT(*) FROM events WHERE kind = 'owned_process_killed' AND json_extract(data, '$.found') = 'mark'"
    assert _count(server, found) >= 3
    conn = apsw.Connection(str(server.db))
    try:
        assert conn.execute("SELECT COUNT(*) FROM owned_processes").fetchone()[0] == 0
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        conn.close()


def _wait_for_agents(server: Server, fake_bin: pathlib.Path) -> list[int]:
    """The agent processes, once one of them is mid-turn (it logged the message it works on)."""
    found: list[int] = []
    log = pathlib.Path(server.env["FAKE_CLAUDE_LOG"])

    def working() -> bool:
        found[:] = _agents(server.mark, fake_bin)
        entries = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
        return any(e.get("pid") in found and "stdin" in e for e in entries)

    wait_until(working, 30, "an agent mid-turn")
    return found


def _agents(mark: str, fake_bin: pathlib.Path) -> list[int]:
    """The fake claude processes of the run (the agents orcha started)."""
    found = []
    for pid in marked_processes(mark):
        with contextlib.suppress(OSError), open(f"/proc/{pid}/cmdline", "rb") as handle:
            if str(fake_bin / "claude").encode() in handle.read():
                found.append(pid)
    return found


def _alive(pid: int) -> bool:
    return not is_dead(pid)
