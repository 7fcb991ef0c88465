"""The README's quick start runs as written: its shell blocks, in order, against a fresh `orcha serve`.

The first block starts the server and the second runs the tests (not run here: this is the test run); every
block after them runs in one shell, as a user types them into a second terminal, and must succeed. Only the
environment differs from a user's: a private data directory and a free port, named by ``$ORCHA_URL``, which
both `orcha serve` and the client commands read.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import signal
import socket
import subprocess
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def _quick_start_blocks() -> list[str]:
    section = README.split("\n## Quick start\n", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```sh\n(.*?)```", section, flags=re.S)]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_quick_start_starts_with_the_two_set_up_commands():
    blocks = _quick_start_blocks()
    assert blocks[:2] == ["scripts/serve", "scripts/test"]
    assert any("orcha objective new" in block for block in blocks[2:])


def test_the_quick_start_runs_as_written_and_the_fake_team_finishes(tmp_path):
    serve, _tests, *typed = _quick_start_blocks()
    url = f"http://127.0.0.1:{_free_port()}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("ORCHA_", "VIRTUAL_ENV"))},
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "ORCHA_URL": url,
        "PATH": "/usr/local/bin:/usr/bin:/bin",  # a fresh shell: this checkout's orcha is not on it yet
    }
    server = subprocess.Popen(
        ["bash", "-c", serve], cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        assert server.stderr is not None
        printed = []
        for line in server.stderr:
            printed.append(line)
            if f"dashboard on {url}/?token=" in line:
                break
        else:
            raise AssertionError("orcha serve printed no login URL:\n" + "".join(printed))
        assert any("source .venv/bin/activate" in line for line in printed), "scripts/serve names the next step"
        script = "set -euo pipefail\n" + "\n".join(typed)
        result = subprocess.run(["bash", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, f"{script}\n{result.stdout}\n{result.stderr}"
        assert "Port subsystem to Rust" in result.stdout
        assert "\x1b[" not in result.stdout, "no colours off a terminal"
        deadline = time.monotonic() + 90
        while True:  # the demo's fake team: a manager, two workers, two PRs, the objective done
            listed = subprocess.run(
                ["bash", "-c", "source .venv/bin/activate && orcha objective ls --json"],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
                check=True,
            )
            objectives = json.loads(listed.stdout)
            objectives = objectives.get("objectives", objectives) if isinstance(objectives, dict) else objectives
            (objective,) = [o for o in objectives if o["title"] == "Port subsystem to Rust"]
            if objective["status"] in ("done", "failed", "canceled"):
                break
            assert time.monotonic() < deadline, f"the demo objective did not finish: {objective}"
            time.sleep(0.5)
        assert objective["status"] == "done", objective
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        with server:
            assert server.wait(timeout=30) == 0
