"""The reaper of the tmux tests fails a test that left a process, and kills it either way."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.crashloop import MARK, Server, marked_processes
from tests.tmuxrun import reaped, tmux_dir


def test_a_process_left_by_the_run_fails_the_test_and_is_killed(tmp_path):
    server = Server(tmp_path / "run")  # never started: only its mark is used
    left = subprocess.Popen(["sleep", "60"], env={**os.environ, MARK: server.mark})
    try:
        failed = pytest.raises(AssertionError, match="left running after orcha stopped")
        with failed, reaped(tmux_dir(tmp_path), server, within=0.2):
            pass
        assert left.wait(timeout=5) == -9 and marked_processes(server.mark) == []
    finally:
        left.kill()
        left.wait()


def test_a_run_that_leaves_nothing_passes(tmp_path):
    server = Server(tmp_path / "run")
    with reaped(tmux_dir(tmp_path), server, within=0.2):
        subprocess.run(["true"], env={**os.environ, MARK: server.mark}, check=True)
