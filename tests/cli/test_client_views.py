"""What the command line shows against a real `orcha serve`: the same lines with and without `logs -f`, tables
that fit 80 columns without cutting ids, questions named by objective and task, and the small promises (flags
before the subcommand, NO_COLOR, a closed pipe, an address with a path, an ended session, scripts/orcha)."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import subprocess
import time

import pytest

from tests.cli.served_cli import PYTHON, Server, clean_env, column, error_line, free_port

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    served = Server(home=str(tmp_path_factory.mktemp("orcha-views")), port=free_port())
    served.start()
    try:
        yield served
    finally:
        served.stop()


@pytest.fixture(scope="module")
def asked(server):
    """An objective whose manager asked the user a question (left open), and that question."""
    created = server.json("objective", "new", "Views of the dashboard", "--agent", "claude")

    def question():
        return [q for q in server.json("questions") if q["objective_id"] == created["id"]]

    [open_question] = server.until(question)
    return created, open_question


def _on_a_terminal(server: Server, args: list[str], *, until: list[bytes], env: dict[str, str]) -> bytes:
    """What ``orcha ARGS`` draws on a terminal until everything in ``until`` is on it."""
    leader, follower = pty.openpty()
    shown = subprocess.Popen(
        [*PYTHON, *args], stdin=follower, stdout=follower, stderr=follower,
        env={**server.env, "LINES": "60", **env}, close_fds=True,
    )  # fmt: skip
    os.close(follower)
    screen = b""
    try:
        deadline = time.monotonic() + 60
        while not all(part in screen for part in until):
            assert time.monotonic() < deadline, screen[-3000:]
            ready, _, _ = select.select([leader], [], [], 0.5)
            if ready:
                try:
                    screen += os.read(leader, 65536)
                except OSError:
                    break
    finally:
        shown.terminate()
        shown.wait(timeout=10)
        os.close(leader)
    return screen


def test_ls_shows_what_needs_the_user_and_fits_80_columns(server, asked):
    created, question = asked
    for width in (80, 200):
        printed = server.orcha("ls", env={**server.env, "COLUMNS": str(width)})
        assert printed.returncode == 0, printed.stderr
        lines = printed.stdout.splitlines()
        assert max(len(line) for line in lines) <= width, printed.stdout
        assert created["manager_session_id"] in printed.stdout  # whole, never cut
        assert "manager" in printed.stdout and "…" not in lines[0]
        panel = lines[lines.index("needs you") + 1 : -1]
        assert question["id"] in column(panel, "ID")
        assert column(panel, "QUESTION").endswith("anything the workers should keep in mind?")  # wrapped, not cut
        assert column(panel, "OBJECTIVE") == "Views of the dashboard"  # the objective by its title
        assert column(panel, "ASKED BY") == "Views of the dashboard"  # the manager's task: the title here


def test_ls_watch_shows_the_open_questions_live(server, asked):
    _created, question = asked
    screen = _on_a_terminal(
        server, ["ls", "--watch"], until=[b"needs you", question["id"].encode(), b"live"], env={"COLUMNS": "120"}
    )
    assert b"keep in mind?" in screen


def test_questions_name_the_objective_and_the_asker_s_task_and_wrap_the_text(server, asked):
    created, question = asked
    for args in (("questions",), ("questions", "--all")):
        printed = server.orcha(*args, env={**server.env, "COLUMNS": "80"})
        assert printed.returncode == 0, printed.stderr
        table = printed.stdout.splitlines()
        assert column(table, "OBJECTIVE") == "Views of the dashboard", printed.stdout  # not the objective's id
        assert column(table, "ASKED BY") == "Views of the dashboard"  # the asker's task, not its id
        assert column(table, "QUESTION").endswith("anything the workers should keep in mind?")
        assert max(len(line) for line in table) <= 80
    shown = server.ok("objective", "show", created["id"])
    [row] = [line for line in shown.splitlines() if line.startswith(question["id"])]
    assert "Views of the dashboard" in row and "ses_" not in row  # asked by the manager, named by its task


def test_logs_and_logs_follow_print_the_same_lines(server, asked):
    created, question = asked
    answered = server.orcha("answer", question["id"], "nothing special")
    # the module's earlier tests may outlast the demo team (its workers take ~4 s): the objective is done
    # by then, and its open question was dismissed with it
    assert answered.returncode == 0 or "is already dismissed (HTTP 409)" in answered.stderr, answered.stderr
    server.until(lambda: server.json("objective", "show", created["id"])["status"] == "done", within=90)
    manager = created["manager_session_id"]
    followed = server.ok("logs", "-f", manager)  # to the session's end: its every line is written then
    paged = server.ok("logs", manager)
    assert "tool_result ✓ spawn_session" in paged
    assert followed == paged
    assert [json.loads(x)["summary"] for x in server.ok("logs", "-f", manager, "--json").splitlines()] == [
        json.loads(x)["summary"] for x in server.ok("logs", manager, "--json").splitlines()
    ]


def test_an_answer_by_the_start_of_an_answered_question_s_id_says_it_is_answered(server, asked):
    _created, question = asked
    server.until(
        lambda: next(q for q in server.json("questions", "--all") if q["id"] == question["id"])["status"] != "open"
    )
    done = server.orcha("answer", question["id"][:6], "again")
    assert done.returncode == 1 and "HTTP 409" in error_line(done) and "no question" not in done.stderr


def test_attach_to_an_ended_session_says_it_ended(server, asked):
    created, _question = asked
    manager = created["manager_session_id"]

    def manager_status():
        return [s["status"] for s in server.json("ls")["sessions"] if s["id"] == manager]

    server.until(lambda: manager_status() == ["completed"])  # its demo script ends it, after the question
    done = server.orcha("attach", manager)
    assert done.returncode == 1
    assert error_line(done) == f"orcha: session {created['manager_session_id']} has ended (completed); its pane is gone"


def test_a_closed_pipe_ends_quietly(server, asked):
    created, _question = asked
    reader, writer = os.pipe()
    os.close(reader)  # the reader left before the first line: every write is a broken pipe
    try:
        done = subprocess.run(
            [*PYTHON, "logs", created["manager_session_id"], "--json"],
            stdout=writer, stderr=subprocess.PIPE, text=True, env=server.env, timeout=60,
        )  # fmt: skip
    finally:
        os.close(writer)
    assert "Traceback" not in done.stderr and "BrokenPipeError" not in done.stderr, done.stderr
    assert done.returncode == 141


def test_the_flags_work_before_the_subcommand_too(server, asked):
    assert "sessions" in json.loads(server.ok("--json", "ls"))
    assert "sessions" in json.loads(server.ok("--server", server.url, "ls", "--json"))
    wrong = server.orcha("--token", "not-this-servers", "ls")
    assert wrong.returncode == 2 and "the token from --token is not this server's" in error_line(wrong)


def test_an_address_with_a_path_is_refused_with_exit_2(server):
    done = server.orcha("ls", "--server", f"{server.url}/api")
    assert done.returncode == 2
    assert error_line(done) == (
        f"orcha: the server address is its origin, {server.url}, without a path (not '{server.url}/api')"
    )


def test_no_color_means_no_styling_at_all(server, asked):
    created, _question = asked
    plain = _on_a_terminal(
        server, ["ls"], until=[created["manager_session_id"].encode(), b"open question"], env={"NO_COLOR": "1"}
    )
    assert b"\x1b[" not in plain, plain[:500]
    styled = _on_a_terminal(server, ["ls"], until=[created["manager_session_id"].encode(), b"open question"], env={})
    assert b"\x1b[1m" in styled  # without NO_COLOR: bold headers


def test_scripts_orcha_keeps_the_caller_s_directory(server, tmp_path):
    (tmp_path / "prompt.txt").write_text("From a relative file.\n")
    done = subprocess.run(
        [os.path.join(ROOT, "scripts", "orcha"), "objective", "new", "Relative", "--prompt-file", "prompt.txt",
         "--agent", "claude", "--json"],
        cwd=tmp_path, capture_output=True, text=True, env=server.env, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["prompt"] == "From a relative file.\n"
    server.ok("objective", "cancel", json.loads(done.stdout)["id"])


def test_scripts_serve_names_the_address_of_another_port(tmp_path):
    port = free_port()
    env = clean_env(str(tmp_path))
    serving = subprocess.Popen(
        [os.path.join(ROOT, "scripts", "serve"), "--port", str(port), "--db", "here.db"],
        cwd=tmp_path, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True,
    )  # fmt: skip
    printed = []
    try:
        assert serving.stderr is not None
        for line in serving.stderr:
            printed.append(line)
            if re.search(r"dashboard on http://127\.0\.0\.1:\d+/", line):
                break
    finally:
        os.killpg(serving.pid, signal.SIGTERM)
        serving.wait(timeout=30)
        serving.stderr.close()
    text = "".join(printed)
    assert "source .venv/bin/activate" in text
    assert f"then, for example:  ORCHA_URL=http://127.0.0.1:{port} orcha ls" in text, text
    assert (tmp_path / "here.db").exists()  # a relative --db is the caller's
