"""Tests that run `orcha serve --tmux` leave nothing behind: every server stopped, the test's own tmux server
(its ``TMUX_TMPDIR``) killed and every process of the run gone, whether the test passed or failed."""

from __future__ import annotations

import contextlib
import os
import pathlib
import signal
import subprocess
import time
from collections.abc import Iterator

from tests.crashloop import Server, marked_processes


def tmux_dir(root: pathlib.Path) -> pathlib.Path:
    """A private folder for the tmux server of one test (``TMUX_TMPDIR``)."""
    folder = root / "tmux"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


def kill_tmux_server(folder: pathlib.Path) -> None:
    env = {**os.environ, "TMUX_TMPDIR": str(folder)}
    env.pop("TMUX", None)
    subprocess.run(["tmux", "kill-server"], capture_output=True, env=env, timeout=10, check=False)


def _left(marks: list[str]) -> list[int]:
    return [pid for mark in marks for pid in marked_processes(mark)]


def _described(pids: list[int]) -> list[str]:
    """Each process as ``pid: its command line`` (for a failure's message)."""
    described = []
    for pid in pids:
        try:
            argv = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            argv = "(gone)"
        described.append(f"{pid}: {argv.strip()[:160]}")
    return described


def _kill_all(marks: list[str]) -> None:
    for pid in _left(marks):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def reaped(folder: pathlib.Path, *servers: Server, within: float = 15) -> Iterator[None]:
    """Run the body; then stop each server still running (SIGTERM, else SIGKILL), kill the tmux server of
    ``folder`` and SIGKILL every process the servers' runs left. When the body passed, it fails if a stopped
    orcha left any process (after ``within`` seconds) or if anything is still alive after the kill."""
    marks = [server.mark for server in servers]
    try:
        yield
    except BaseException:
        _stop(servers, strict=False)
        kill_tmux_server(folder)
        _kill_all(marks)
        raise
    try:
        _stop(servers, strict=True)  # a non-zero exit on SIGTERM fails the test
        deadline = time.monotonic() + within
        while _left(marks) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = _described(_left(marks))  # before the kill below, while their command lines can be read
    finally:
        _stop(servers, strict=False)
        kill_tmux_server(folder)
        _kill_all(marks)
    assert not left, f"processes left running after orcha stopped: {left}"
    deadline = time.monotonic() + 5
    while _left(marks) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _left(marks), f"processes still alive after SIGKILL: {_left(marks)}"


def _stop(servers: tuple[Server, ...], *, strict: bool) -> None:
    for server in servers:
        process = server.process
        if process is None or process.poll() is not None:
            continue
        if strict:
            server.stop()
            continue
        with contextlib.suppress(AssertionError, subprocess.TimeoutExpired):
            server.stop()
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
