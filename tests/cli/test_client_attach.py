"""`orcha attach` replaces itself with the session's attach command (no shell), found by a prefix of its id."""

from __future__ import annotations

import json
import subprocess

import trio

from tests.cli.served_cli import PYTHON, clean_env
from tests.web.harness import eventually, served

TOKEN = "a-test-token-of-enough-length"


async def test_attach_execs_the_sessions_tmux_command(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "tmux").write_text('#!/bin/sh\necho "fake tmux: $*"\nexit 7\n')  # stands in for a terminal's tmux
    (bin_dir / "tmux").chmod(0o700)
    async with served(tmp_path, token=TOKEN) as web:
        body = {"title": "t", "agent": "shell", "prompt": "echo attached-$((6*7))"}
        sid = (await web.client.post("/api/objectives", json=body)).json()["manager_session_id"]
        await eventually(lambda: web.store.get_session(sid).attach_command is not None)
        env = clean_env(str(tmp_path), ORCHA_URL=web.url, ORCHA_TOKEN=TOKEN)
        env["PATH"] = f"{bin_dir}:{env['PATH']}"
        run = [*PYTHON, "attach", sid[:9]]
        attached = await trio.run_process(run, capture_stdout=True, capture_stderr=True, env=env, check=False)
        assert attached.returncode == 7, attached.stderr  # the exit status of the program it became
        assert attached.stdout.decode().strip() == f"fake tmux: attach -t orcha-{sid}"
        shown = await trio.run_process([*run, "--json"], capture_stdout=True, env=env)
        assert json.loads(shown.stdout)["argv"] == ["tmux", "attach", "-t", f"orcha-{sid}"]
        env["PATH"] = "/nonexistent"
        missing = await trio.run_process(
            [*run], capture_stdout=True, capture_stderr=True, env=env, check=False, stdin=subprocess.DEVNULL
        )
        assert missing.returncode == 1 and missing.stderr.decode().startswith("orcha: tmux is not installed here")
        await web.client.post(f"/api/sessions/{sid}/cancel")
