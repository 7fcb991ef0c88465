"""The README's commands run as written: its curl examples against a real `orcha serve`, token and all."""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
DOCUMENTED = "http://127.0.0.1:8080"


def _shell_blocks() -> list[str]:
    return re.findall(r"```sh\n(.*?)```", README, flags=re.S)


def test_the_readme_shows_the_token_in_every_api_example():
    curls = [block for block in _shell_blocks() if block.lstrip().startswith("curl")]
    assert len(curls) >= 2
    for block in curls:
        assert "Authorization: Bearer $(scripts/orcha token)" in block, block
        assert DOCUMENTED in block


def test_the_readme_curl_examples_run_as_written(tmp_path):
    if shutil.which("curl") is None:
        pytest.fail("curl is missing: scripts/test installs it with apt-get")
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data"), "ORCHA_TOKEN": ""}
    server = subprocess.Popen(
        [sys.executable, "-m", "orcha", "serve", "--port", "0", "--db", str(tmp_path / "orcha.db")],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        url = None
        for line in server.stderr:
            match = re.search(r"dashboard on (http://127\.0\.0\.1:\d+)/\?token=", line)
            if match:
                url = match.group(1)
                break
        assert url, "orcha serve printed no login URL"
        outputs: dict[str, object] = {}
        for block in _shell_blocks():
            if not block.lstrip().startswith("curl"):
                continue
            script = block.replace(DOCUMENTED, url)  # only the port differs: the test cannot count on 8080
            result = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", script.replace("curl ", "curl -fsS ")],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert result.returncode == 0, f"{block}\n{result.stderr}"
            path = re.search(r"http://127\.0\.0\.1:8080(/\S*)", block)
            assert path, block
            outputs[path.group(1)] = json.loads(result.stdout)
        created, dashboard = outputs["/api/objectives"], outputs["/api/dashboard"]
        assert isinstance(created, dict) and isinstance(dashboard, dict)
        assert created["title"] == "Port subsystem to Rust" and created["manager_session_id"]
        assert any(o["id"] == created["id"] for o in dashboard["objectives"])
    finally:
        server.send_signal(signal.SIGTERM)
        with server:  # closes its stderr pipe
            server.wait(timeout=20)
        assert server.wait(timeout=20) == 0
