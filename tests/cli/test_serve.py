"""The README quick start, end to end: `orcha serve` as a process, a curl-equivalent POST, the fake team."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

PYTHON = [sys.executable, "-m", "orcha"]


def _env(tmp_path) -> dict[str, str]:
    return {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data"), "ORCHA_TOKEN": ""}


def _request(url: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url, data=data, method="POST" if body is not None else "GET", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_the_quick_start_runs_a_fake_team_to_two_prs(tmp_path):
    started = time.monotonic()
    server = subprocess.Popen(
        [*PYTHON, "serve", "--port", "0", "--db", str(tmp_path / "orcha.db")],
        stderr=subprocess.PIPE,
        text=True,
        env=_env(tmp_path),
    )
    try:
        url = None
        for line in server.stderr:
            match = re.search(r"dashboard on (http://127\.0\.0\.1:\d+)/", line)
            if match:
                url = match.group(1)
                break
        assert url, "orcha serve never said where it listens"
        ready_after = time.monotonic() - started
        objective = _request(
            f"{url}/api/objectives", {"title": "Port subsystem to Rust", "prompt": "...", "agent": "claude"}
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            dashboard = _request(f"{url}/api/dashboard")
            [row] = [o for o in dashboard["objectives"] if o["id"] == objective["id"]]
            if row["status"] == "done":
                break
            time.sleep(0.5)
        assert row["status"] == "done"
        prs = [p for p in dashboard["pull_requests"] if p["objective_id"] == objective["id"]]
        assert len(prs) == 2
        roles = sorted(s["role"] for s in dashboard["sessions"] if s["objective_id"] == objective["id"])
        assert roles == ["manager", "worker", "worker"]
        page = urllib.request.urlopen(f"{url}/", timeout=10).read().decode()
        assert "<title>orcha</title>" in page
        assert ready_after < 10  # about a second on this machine; generous for a loaded CI
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=20) == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--host", "0.0.0.0"], "without a token"),
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
