"""The README quick start, end to end: `orcha serve` as a process, a curl-equivalent POST, the fake team."""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

PYTHON = [sys.executable, "-m", "orcha"]


def _env(tmp_path) -> dict[str, str]:
    return {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data"), "ORCHA_TOKEN": ""}


def _request(url: str, body: dict | None = None, *, token: str) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    request = urllib.request.Request(url, data=data, method="POST" if body is not None else "GET", headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _orcha(tmp_path, *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([*PYTHON, *args], capture_output=True, text=True, timeout=60, env=_env(tmp_path))
    assert result.returncode == 0, result.stderr
    return result


def test_the_quick_start_runs_a_fake_team_to_two_prs(tmp_path):
    started = time.monotonic()
    server = subprocess.Popen(
        [*PYTHON, "serve", "--port", "0", "--db", str(tmp_path / "orcha.db")],
        stderr=subprocess.PIPE,
        text=True,
        env=_env(tmp_path),
    )
    try:
        url = login = None
        for line in server.stderr:
            match = re.search(r"dashboard on ((http://127\.0\.0\.1:\d+)/\?token=(\S+))", line)
            if match:
                login, url, printed = match.groups()
                break
        assert url and login, "orcha serve never printed its login URL"
        ready_after = time.monotonic() - started
        token = _orcha(tmp_path, "token").stdout.strip()
        assert printed == token  # the token is URL-safe, so it is printed as it is
        token_file = tmp_path / "data" / "orcha" / "token"
        assert token_file.read_text().strip() == token and token_file.stat().st_mode & 0o777 == 0o600
        with pytest.raises(urllib.error.HTTPError) as anonymous:
            urllib.request.urlopen(f"{url}/api/dashboard", timeout=10)
        assert anonymous.value.code == 401
        anonymous.value.close()  # an HTTPError holds the response open
        objective = _request(
            f"{url}/api/objectives",
            {"title": "Port subsystem to Rust", "prompt": "...", "agent": "claude"},
            token=token,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            dashboard = _request(f"{url}/api/dashboard", token=token)
            [row] = [o for o in dashboard["objectives"] if o["id"] == objective["id"]]
            team = [x for x in dashboard["sessions"] if x["objective_id"] == objective["id"]]
            if row["status"] == "done" and len(team) == 3:  # the manager ends with its turn, just after
                break
            time.sleep(0.5)
        assert row["status"] == "done"
        prs = [p for p in dashboard["pull_requests"] if p["objective_id"] == objective["id"]]
        assert len(prs) == 2
        roles = sorted(s["role"] for s in dashboard["sessions"] if s["objective_id"] == objective["id"])
        assert roles == ["manager", "worker", "worker"]
        jar = http.cookiejar.CookieJar()
        browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        page = browser.open(login, timeout=10).read().decode()  # the login URL sets a cookie, then redirects
        assert "<title>orcha</title>" in page
        [cookie] = list(jar)
        assert cookie.has_nonstandard_attr("HttpOnly") and token not in (cookie.value or "")
        assert ready_after < 10  # about a second on this machine; generous for a loaded CI
    finally:
        server.send_signal(signal.SIGTERM)
        with server:  # closes its stderr pipe
            assert server.wait(timeout=20) == 0


def test_no_auth_warns_and_prints_a_url_without_a_token(tmp_path):
    server = subprocess.Popen(
        [*PYTHON, "serve", "--no-auth", "--port", "0", "--db", str(tmp_path / "orcha.db")],
        stderr=subprocess.PIPE,
        text=True,
        env=_env(tmp_path),
    )
    try:
        seen = []
        for line in server.stderr:
            seen.append(line)
            if line.startswith("orcha: dashboard on"):
                break
        assert any("WITHOUT authentication" in line for line in seen), seen
        assert re.search(r"dashboard on http://127\.0\.0\.1:\d+/$", seen[-1].strip()), seen[-1]
        url = re.search(r"(http://\S+)/", seen[-1]).group(1)
        with urllib.request.urlopen(f"{url}/api/dashboard", timeout=10) as response:
            assert response.status == 200
        assert not (tmp_path / "data" / "orcha" / "token").exists()  # --no-auth makes no token
    finally:
        server.send_signal(signal.SIGTERM)
        with server:  # closes its stderr pipe
            assert server.wait(timeout=20) == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--host", "0.0.0.0", "--no-auth"], "loopback only"),
        (["--host", "127.0.0.1.evil.example", "--no-auth"], "loopback only"),
        (["--token", "short"], "at least 16"),
        (["--no-auth", "--token", "a-long-enough-token-1"], "contradict"),
        (["--allowed-host", "example.com:80"], "without a port"),
        (["--port", "70000"], "between 0 and 65535"),
        (["--max-concurrent", "0"], "at least 1"),
    ],
)
def test_serve_refuses_what_it_cannot_do_with_a_clear_message(tmp_path, args, message):
    result = subprocess.run(
        [*PYTHON, "serve", *args, "--db", str(tmp_path / "x.db")],
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(tmp_path),
    )
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_a_port_in_use_is_a_message_not_a_traceback(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [*PYTHON, "serve", "--port", str(port), "--db", str(tmp_path / "x.db")],
            capture_output=True,
            text=True,
            timeout=60,
            env=_env(tmp_path),
        )
    assert result.returncode == 2
    assert "cannot listen" in result.stderr
    assert "Traceback" not in result.stderr


def _start(tmp_path, *extra: str) -> tuple[subprocess.Popen[str], str]:
    server = subprocess.Popen(
        [*PYTHON, "serve", "--port", "0", "--db", str(tmp_path / "orcha.db"), *extra],
        stderr=subprocess.PIPE,
        text=True,
        env=_env(tmp_path),
    )
    assert server.stderr is not None
    for line in server.stderr:
        if line.startswith("orcha: dashboard on"):
            return server, line
    raise AssertionError("orcha serve never became ready")


def test_a_second_server_on_the_same_database_exits_naming_the_first(tmp_path):
    first, _ = _start(tmp_path)
    try:
        second = subprocess.run(
            [*PYTHON, "serve", "--port", "0", "--db", str(tmp_path / "orcha.db")],
            capture_output=True,
            text=True,
            timeout=60,
            env=_env(tmp_path),
        )
        assert second.returncode == 2
        assert "in use by another orcha serve" in second.stderr and f"pid {first.pid}" in second.stderr
        assert "Traceback" not in second.stderr
    finally:
        first.send_signal(signal.SIGTERM)
        with first:
            assert first.wait(timeout=20) == 0
    again, _ = _start(tmp_path)  # the lock went with the process
    again.send_signal(signal.SIGTERM)
    with again:
        assert again.wait(timeout=20) == 0


def test_after_a_graceful_stop_the_database_file_alone_holds_everything(tmp_path):
    import apsw

    server, line = _start(tmp_path)
    url = re.search(r"(http://127\.0\.0\.1:\d+)/", line).group(1)
    token = _orcha(tmp_path, "token").stdout.strip()
    _request(f"{url}/api/objectives", {"title": "keep me", "prompt": "...", "agent": "claude"}, token=token)
    server.send_signal(signal.SIGTERM)
    with server:
        assert server.wait(timeout=20) == 0
    wal = tmp_path / "orcha.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0  # checkpointed into orcha.db
    copy = tmp_path / "backup.db"
    copy.write_bytes((tmp_path / "orcha.db").read_bytes())  # what a user copying orcha.db gets
    connection = apsw.Connection(str(copy))
    try:
        titles = [row[0] for row in connection.execute("SELECT title FROM objectives")]
        assert titles == ["keep me"]
        assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        connection.close()


def test_a_backup_of_a_live_database_is_consistent_and_never_overwrites(tmp_path):
    server, line = _start(tmp_path)
    try:
        url = re.search(r"(http://127\.0\.0\.1:\d+)/", line).group(1)
        token = _orcha(tmp_path, "token").stdout.strip()
        _request(f"{url}/api/objectives", {"title": "in the backup", "prompt": "...", "agent": "claude"}, token=token)
        backup = tmp_path / "copy.db"
        made = _orcha(tmp_path, "db", "backup", str(backup), "--db", str(tmp_path / "orcha.db"))
        assert "integrity ok" in made.stdout and backup.stat().st_mode & 0o777 == 0o600
        info = _orcha(tmp_path, "db", "info", "--db", str(backup))
        assert "objectives      1 shown" in info.stdout and "integrity       ok" in info.stdout
        again = subprocess.run(
            [*PYTHON, "db", "backup", str(backup), "--db", str(tmp_path / "orcha.db")],
            capture_output=True,
            text=True,
            timeout=60,
            env=_env(tmp_path),
        )
        assert again.returncode == 2 and "already exists" in again.stderr and "Traceback" not in again.stderr
    finally:
        server.send_signal(signal.SIGTERM)
        with server:
            assert server.wait(timeout=20) == 0


@pytest.mark.parametrize(
    ("url", "port"),
    [
        (None, 8080),
        ("", 8080),
        ("http://127.0.0.1:9123", 9123),
        ("http://localhost:7000/", 7000),
        ("http://127.0.0.1", 8080),  # no port: the default
        ("http://127.0.0.1:notaport", 8080),  # the client commands say what is wrong with it
    ],
)
def test_serve_binds_the_port_orcha_url_names_unless_told(url, port):
    from orcha.cli._serve import default_port

    assert default_port({} if url is None else {"ORCHA_URL": url}) == port


# --- a database started in the other mode -------------------------------------------------------------------


def _database(path) -> dict[str, list]:
    """Every row of every table: what a refused start must leave as it was."""
    import apsw

    connection = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        tables = [r[0] for r in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {t: sorted(map(repr, connection.execute(f'SELECT * FROM "{t}"'))) for t in tables}
    finally:
        connection.close()


def _refused(server, *extra: str) -> subprocess.CompletedProcess[str]:
    argv = [*PYTHON, "serve", "--port", "0", "--db", str(server.db), *extra]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, env=server.env)


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (scripts/test installs it)")
def test_a_database_with_sessions_in_tmux_panes_is_not_served_without_tmux(tmp_path):
    from tests.crashloop import Server, wait_until
    from tests.tmuxrun import reaped, tmux_dir

    folder = tmux_dir(tmp_path)
    server = Server(tmp_path / "run", "--tmux", env={"TMUX_TMPDIR": str(folder)})
    with reaped(folder, server):
        server.start()
        objective = server.post("/api/objectives", {"title": "Port", "prompt": "Port it.", "agent": "claude"})
        manager = objective["manager_session_id"]
        wait_until(lambda: server.get(f"/api/sessions/{manager}")["attach_command"], 60, "the manager's pane")
        server.stop()  # its panes run on, to be re-adopted by the next `orcha serve --tmux`
        before = _database(server.db)
        refused = _refused(server)
        assert refused.returncode == 2, refused.stderr
        live = len([s for s in server_sessions(server.db) if s[1] not in _ENDED and s[2]])
        assert live and f"orcha: {live} live session" in refused.stderr, refused.stderr
        assert "in tmux panes; start with --tmux, or cancel them there first" in refused.stderr
        assert "Traceback" not in refused.stderr and "dashboard on" not in refused.stderr
        assert _database(server.db) == before
        server.start()  # in its own mode it carries on, and is cancelled there
        server.post(f"/api/objectives/{objective['id']}/cancel", {})
        wait_until(lambda: server.get(f"/api/sessions/{manager}")["status"] == "canceled", 60, "the cancel")


def test_a_database_with_headless_sessions_is_not_served_with_tmux(tmp_path):
    from tests.crashloop import Server, wait_until

    server = Server(tmp_path / "run")
    server.start()
    try:
        objective = server.post("/api/objectives", {"title": "Port", "prompt": "Port it.", "agent": "claude"})
        manager = objective["manager_session_id"]
        wait_until(lambda: server.get(f"/api/sessions/{manager}")["status"] == "running", 60, "the manager at work")
        server.stop()
        before = _database(server.db)
        live = [s for s in server_sessions(server.db) if s[1] not in _ENDED and s[3]]
        assert live and not any(s[2] for s in live)
        refused = _refused(server, "--tmux")
        assert refused.returncode == 2, refused.stderr
        assert f"orcha: {len(live)} live session" in refused.stderr, refused.stderr
        assert "headless (started without --tmux); start without --tmux, or cancel them" in refused.stderr
        assert "Traceback" not in refused.stderr
        assert _database(server.db) == before
        server.start()  # without --tmux it is served again
    finally:
        if server.process is not None and server.process.poll() is None:
            server.stop()


_ENDED = ("completed", "failed", "canceled")


def server_sessions(path) -> list[tuple]:
    """(id, status, attach_command, provider_session_id) of each session."""
    import apsw

    connection = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        return list(connection.execute("SELECT id, status, attach_command, provider_session_id FROM sessions"))
    finally:
        connection.close()
