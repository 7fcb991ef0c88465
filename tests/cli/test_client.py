"""The command line against one real `orcha serve` (fake agents, its own data dir): every subcommand, its
`--json`, and what a user sees when something is wrong (one line, an exit status, never a traceback)."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import time
from typing import Any

import pytest

from tests.cli.served_cli import PYTHON, Server, clean_env, error_line, free_port


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    served = Server(home=str(tmp_path_factory.mktemp("orcha-cli")), port=free_port())
    served.start()
    try:
        yield served
    finally:
        served.stop()


def _team(server: Server, objective_id: str) -> list[dict]:
    return [s for s in server.json("ls")["sessions"] if s["objective_id"] == objective_id]


def _new(server: Server, title: str, *extra: str) -> dict:
    created = server.json("objective", "new", title, "--agent", "claude", *extra)
    assert created["title"] == title and created["manager_session_id"].startswith("ses_")
    return created


def _done(server: Server, objective_id: str) -> dict:
    def finished():
        shown = server.json("objective", "show", objective_id)
        return shown if shown["status"] == "done" and len(shown["sessions"]) == 3 else None

    return server.until(finished)


def test_an_objective_from_new_to_show(server, tmp_path):
    prompt = tmp_path / "prompt.md"
    prompt.write_text("Port the parser.\nKeep the API.\n")
    created = _new(server, "Port subsystem to Rust", "--prompt-file", str(prompt))
    printed = server.ok("objective", "ls")
    assert created["id"] in printed and "Port subsystem to Rust" in printed and "active" in printed.split("\n")[1]
    shown = _done(server, created["id"])
    assert shown["prompt"] == "Port the parser.\nKeep the API.\n" and len(shown["pull_requests"]) == 2
    text = server.ok("objective", "show", created["id"][:8])  # a unique start of an id is enough
    for heading in ("sessions", "pull requests", "questions", "notes"):
        assert f"\n{heading}\n" in text
    assert "Port the parser." in text  # the manager's task: the prompt's first line
    assert text.count(" worker ") == 2 and len(re.findall(r" #\d+\n", text)) == 2 and "done" in text.splitlines()[0]
    listed = server.json("objective", "ls")
    assert [o["id"] for o in listed].count(created["id"]) == 1


def test_ls_shows_every_session_with_its_columns(server):
    created = _new(server, "Columns")
    manager = created["manager_session_id"]
    server.until(lambda: len(_team(server, created["id"])) == 3)
    server.until(lambda: [q for q in server.json("questions") if q["objective_id"] == created["id"]])

    def both_views() -> tuple[list[str], str, dict[str, Any]] | None:
        """The table and the JSON, read one after the other: the manager's "now" may move between the two (its
        question is stored as its tool call's line is committed, and a worker may end), so until they agree."""
        lines = server.ok("ls").splitlines()
        [row] = [line for line in lines if line.startswith(manager)]
        [shown] = [s for s in server.json("ls")["sessions"] if s["id"] == manager]
        return (lines, row, shown) if shown["now"] is None or shown["now"] in row else None

    lines, row, shown = server.until(both_views)
    header = lines[0].split()
    assert header == ["ID", "ROLE", "AGENT", "STATUS", "TASK", "NOW", "OUT", "COST", "TARGET", "PR"]
    assert row.split()[:3] == [manager, "manager", "claude"] and "local" in row  # the target by its name
    assert " Columns " in row  # its task: the first line of its prompt (the title here)
    assert shown["task"] == "Columns"
    assert "open question" in lines[-1]
    _done(server, created["id"])


def test_logs_print_tool_calls_as_one_liners_and_follow_to_the_end(server):
    created = _new(server, "Logs")
    manager = created["manager_session_id"]
    followed = server.orcha("logs", "-f", manager, "--json", timeout=90)  # from the start to its end
    assert followed.returncode == 0, followed.stderr
    assert f"{manager} ended (completed)" in followed.stderr
    lines = [json.loads(line) for line in followed.stdout.splitlines()]
    assert [line["seq"] for line in lines] == list(range(1, len(lines) + 1))  # every line once, in order
    paged = [json.loads(line) for line in server.ok("logs", manager, "--json").splitlines()]  # without -f
    assert [(p["seq"], p["body"]) for p in paged] == [(line["seq"], line["body"]) for line in lines]
    plain = server.ok("logs", manager).splitlines()
    assert len(plain) >= len(lines)  # multi-line bodies take more than one line
    calls = [line for line in plain if " tool_call " in line]
    assert calls and all('"tool"' not in line for line in calls)  # one-liners, not the call's JSON
    assert any("spawn_session Part 1 of: Logs" in line for line in calls)


def test_steer_and_cancel_a_live_session_then_refusals_are_one_line(server):
    created = _new(server, "Steer")
    manager = created["manager_session_id"]
    server.until(lambda: any(s["status"] == "running" for s in _team(server, created["id"]) if s["id"] == manager))
    steered = server.orcha("steer", manager, "mind the tests")
    assert steered.returncode == 0, steered.stderr
    assert steered.stdout.startswith(f"{manager}: ")
    workers = server.until(lambda: [s for s in _team(server, created["id"]) if s["role"] == "worker"])
    canceled = server.json("cancel", workers[0]["id"], "--reason", "not needed")
    assert canceled["status"] == "canceled"
    # at once, while the other worker is still at work (a few seconds): else the manager declares it done
    assert server.json("objective", "cancel", created["id"], "--reason", "test over")["status"] == "canceled"
    again = server.orcha("cancel", workers[0]["id"])
    assert again.returncode == 1 and "HTTP 409" in error_line(again)
    resumed = server.orcha("resume", workers[0]["id"], "go on")
    assert resumed.returncode == 1 and "HTTP 409" in error_line(resumed)


def test_questions_and_an_answer_by_a_unique_start_of_its_id(server):
    created = _new(server, "Ask")

    def asked():
        return [q for q in server.json("questions") if q["objective_id"] == created["id"]]

    [question] = server.until(asked)
    listed = server.ok("questions")
    assert question["id"] in listed and "anything the workers should keep in mind?" in listed
    answered = server.orcha("answer", question["id"][:7], "use the MIT license")
    assert answered.returncode == 0, answered.stderr
    assert answered.stdout.strip() == f"{question['id']}: answered"
    every = server.json("questions", "--all")
    [row] = [q for q in every if q["id"] == question["id"]]
    assert row["status"] == "answered" and row["answer"] == "use the MIT license"
    assert question["id"] not in server.ok("questions")
    twice = server.orcha("answer", question["id"], "again")
    assert twice.returncode == 1 and "HTTP 409" in error_line(twice)
    _done(server, created["id"])


def test_attach_without_a_pane_says_so(server):
    created = _new(server, "Attach")
    attached = server.orcha("attach", created["manager_session_id"])
    assert attached.returncode == 1 and "no terminal to attach to" in error_line(attached)
    _done(server, created["id"])


def test_targets_ls_add_doctor_drain_disable_enable(server, tmp_path):
    [local] = server.json("targets", "ls")
    assert local["name"] == "local" and local["status"] == "online"
    doctor = server.orcha("targets", "doctor", "local")
    assert doctor.returncode == 0, doctor.stderr
    lines = doctor.stdout.splitlines()
    assert lines[0].startswith("✓ work_root") and lines[-1] == "local: online (doctor passed)"
    names = [line[2:14].strip() for line in lines[:-1]]
    assert len(names) == len(set(names)) and {"git", "tmux", "agent CLI", "gh auth"} <= set(names)  # each once
    root = tmp_path / "box-work"
    added = server.json("targets", "add", "box", "--kind", "local", "--work-root", str(root), "--capacity", "1")
    assert added["target"]["name"] == "box" and added["doctor"]["ok"] and root.is_dir()
    assert server.ok("targets", "drain", "box").strip() == "box: draining (drained by the user)"
    assert server.ok("targets", "disable", "box").strip() == "box: disabled (disabled by the user)"
    enabled = server.ok("targets", "enable", added["target"]["id"])
    assert enabled.splitlines()[-1] == "box: online (doctor passed)"
    assert "box" in server.ok("targets", "ls") and "0/1" in server.ok("targets", "ls")
    server.ok("targets", "disable", "box")  # the other tests' sessions stay on the local machine
    refused = server.orcha("targets", "add", "bad", "--work-root", "relative/path", "--host", "h")
    assert refused.returncode == 1 and "work_root" in error_line(refused)


def test_unknown_ids_are_a_404_in_one_line(server):
    for args in (("logs", "ses_nope"), ("steer", "ses_nope", "hi"), ("objective", "show", "obj_nope"),
                 ("answer", "q_nope", "yes"), ("targets", "doctor", "nope")):  # fmt: skip
        done = server.orcha(*args)
        assert done.returncode == 1 and done.stdout == "", args
        line = error_line(done)
        assert "no " in line and "nope" in line, line


def test_no_server_and_a_bad_token_are_told_in_one_line(server, tmp_path):
    nobody = f"http://127.0.0.1:{free_port()}"
    for args in (("ls",), ("logs", "-f", "ses_x"), ("ls", "--watch"), ("targets", "doctor", "local")):
        done = server.orcha(*args, "--server", nobody)
        assert done.returncode == 2 and f"no orcha server at {nobody}" in error_line(done), args
    wrong = server.orcha("ls", "--token", "not-the-token-at-all")
    assert wrong.returncode == 2 and "the token from --token is not this server's" in error_line(wrong)
    elsewhere = clean_env(str(tmp_path), ORCHA_URL=server.url)  # a user without the server's token file
    missing = server.orcha("ls", env=elsewhere)
    assert missing.returncode == 2 and "no token found" in error_line(missing)
    assert not (tmp_path / "data" / "orcha" / "token").exists()  # the client reads the token file, never makes one
    given = server.orcha("ls", "--json", env={**elsewhere, "ORCHA_TOKEN": server.ok("token").strip()})
    assert given.returncode == 0 and "sessions" in json.loads(given.stdout)
    bad = server.orcha("ls", "--server", "localhost:8080")
    assert bad.returncode == 2 and "must start with http://" in error_line(bad)


def test_ls_watch_streams_the_dashboard_s_messages(server):
    watching = subprocess.Popen([*PYTHON, "ls", "--watch", "--json"], stdout=subprocess.PIPE, text=True, env=server.env)
    try:
        assert watching.stdout is not None
        first = json.loads(watching.stdout.readline())
        assert first["type"] == "snapshot" and "sessions" in first["dashboard"]
        created = _new(server, "Watched")
        seen = []
        deadline = time.monotonic() + 60
        while not any(m.get("kind") == "objective" and m.get("id") == created["id"] for m in seen):
            assert time.monotonic() < deadline, seen
            seen.append(json.loads(watching.stdout.readline()))
        assert all(m["type"] in ("delta", "activity") for m in seen)
    finally:
        watching.terminate()
        watching.wait(timeout=10)
        watching.stdout.close()
    _done(server, created["id"])


def test_ls_watch_on_a_terminal_draws_the_table_in_colour(server):
    created = _new(server, "On a terminal")
    manager = created["manager_session_id"]
    leader, follower = pty.openpty()
    watching = subprocess.Popen(
        [*PYTHON, "ls", "--watch"], stdin=follower, stdout=follower, stderr=follower,
        env={**server.env, "COLUMNS": "160", "LINES": "40"}, close_fds=True,
    )  # fmt: skip
    os.close(follower)
    screen = b""
    try:
        deadline = time.monotonic() + 30
        while not (manager.encode() in screen and b"live" in screen):
            assert time.monotonic() < deadline, screen[-2000:]
            ready, _, _ = select.select([leader], [], [], 0.5)
            if ready:
                screen += os.read(leader, 65536)
    finally:
        watching.terminate()
        watching.wait(timeout=10)
        os.close(leader)
    assert b"\x1b[" in screen  # a terminal gets colours (and the redraws)
    _done(server, created["id"])
