"""A real `orcha serve` subprocess (fake agents, a temp data dir and db) and the `orcha` command line run
against it, as a user runs them: separate processes, no terminal."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import attrs

PYTHON = [sys.executable, "-m", "orcha"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def clean_env(home: str, **extra: str) -> dict[str, str]:
    """The environment of a user with their own data dir, no server chosen and no token set."""
    env = {k: v for k, v in os.environ.items() if k not in ("ORCHA_URL", "ORCHA_TOKEN", "NO_COLOR", "FORCE_COLOR")}
    return {**env, "XDG_DATA_HOME": os.path.join(home, "data"), "XDG_STATE_HOME": os.path.join(home, "state"), **extra}


@attrs.define
class Server:
    home: str
    port: int
    process: subprocess.Popen[str] | None = None
    _drain: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        return clean_env(self.home, ORCHA_URL=self.url)

    def start(self) -> None:
        """Start it on its port and wait for its login URL (its API answers from then on)."""
        self.process = subprocess.Popen(
            [*PYTHON, "serve", "--port", str(self.port), "--db", os.path.join(self.home, "orcha.db")],
            stderr=subprocess.PIPE,
            text=True,
            env=clean_env(self.home),
        )
        assert self.process.stderr is not None
        for line in self.process.stderr:
            if re.search(r"dashboard on http://127\.0\.0\.1:\d+/", line):
                break
        else:
            raise AssertionError(f"orcha serve exited with {self.process.wait()} before it served")
        stderr = self.process.stderr
        self._drain = _Drain(stderr)

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            self._drain.join()
            if self.process.stderr is not None:
                self.process.stderr.close()
            self.process = None

    def orcha(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """Run ``orcha ARGS`` against this server (unless ``env`` says otherwise)."""
        return subprocess.run(
            [*PYTHON, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env or self.env,
            stdin=subprocess.DEVNULL,
        )

    def ok(self, *args: str) -> str:
        done = self.orcha(*args)
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        assert "\x1b" not in done.stdout  # no terminal: no escape codes
        return done.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--json"))

    def until(self, check: Callable[[], Any], *, within: float = 60) -> Any:
        """Poll ``check`` (which asks this server) until it returns something true."""
        deadline = time.monotonic() + within
        while True:
            found = check()
            if found:
                return found
            assert time.monotonic() < deadline, "the server never got there"
            time.sleep(0.2)


class _Drain:
    """Reads a server's stderr so it never blocks on a full pipe."""

    def __init__(self, stream: Any) -> None:
        import threading

        self.lines: list[str] = []
        self._thread = threading.Thread(target=lambda: self.lines.extend(stream), daemon=True)
        self._thread.start()

    def join(self) -> None:
        self._thread.join(timeout=10)


def error_line(done: subprocess.CompletedProcess[str]) -> str:
    """The one line a failed command printed: no traceback, nothing on stdout."""
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("orcha: "), done.stderr
    return lines[0]


def column(table: list[str], name: str) -> str:
    """The words of a printed table's column ``name`` (its header row first), wrapped lines joined."""
    header = table[0]
    start = header.index(name)
    later = [m.start() for m in re.finditer(r"(?<=  )\S", header) if m.start() > start]
    end = later[0] if later else None
    return " ".join(" ".join(line[start:end].split()) for line in table[1:] if line[start:end].strip())
