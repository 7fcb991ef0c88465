"""The README's `orcha` examples (its "Command line" section, and any other block of `orcha` commands, such as
the quick start's) run as written against a real `orcha serve`."""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys

from tests.cli.served_cli import Server, free_port

ROOT = pathlib.Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
SECTION = re.search(r"^## Command line\n(.*?)^## ", README, flags=re.S | re.M)


def test_the_command_line_examples_run_as_written(tmp_path):
    assert SECTION is not None, "the README has no Command line section"
    blocks = re.findall(r"```sh\n(.*?)```", SECTION.group(1), flags=re.S)
    assert len(blocks) == 2
    elsewhere = [b for b in re.findall(r"```sh\n(.*?)```", README, flags=re.S) if b.startswith("orcha ")]
    blocks += [b for b in elsewhere if b not in blocks]
    server = Server(home=str(tmp_path), port=free_port())
    server.start()
    try:
        env = {**server.env, "PATH": f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}"}  # `orcha` of .venv
        outputs = []
        for block in blocks:
            done = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", block], env=env, capture_output=True, text=True, timeout=120
            )
            assert done.returncode == 0, f"{block}\n{done.stderr}"
            assert "Traceback" not in done.stderr
            outputs.append(done.stdout)
    finally:
        server.stop()
    walk, script = outputs[:2]
    assert re.match(r"obj_\w+  Port subsystem to Rust  \(manager ses_\w+\)\n", walk)
    assert "ID " in walk and "local: online (doctor passed)" in walk
    assert "text " in script and "tool_call" in script and re.search(r"^\d+ sessions$", script, flags=re.M)
