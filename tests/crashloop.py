"""A crash loop for `orcha serve`: a real server process killed with SIGKILL at seeded moments and restarted
on the same database, with SSE readers that follow sessions across the restarts.

What a run leaves is read from the database after a last clean stop (:func:`tally`), so a test compares it
with an uninterrupted run's; :func:`marked_processes` finds, through /proc, any process of the run still alive.
"""

from __future__ import annotations

import json
import os
import pathlib
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import apsw

from orcha.io.store import Store

MARK = "ORCHA_CRASH_LOOP_MARK"
"""An environment variable every process of the run inherits: how /proc tells them apart from the rest."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def marked_processes(mark: str) -> list[int]:
    """Live (not zombie) processes whose environment carries ``MARK=mark``."""
    needle = f"{MARK}={mark}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as handle:
                environ = handle.read().split(b"\0")
            with open(f"/proc/{entry}/stat") as handle:
                state = handle.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if needle in environ and state != "Z":
            found.append(int(entry))
    return found


class Server:
    """`orcha serve` on one database and one port, started and killed again and again."""

    def __init__(self, root: pathlib.Path, *extra: str, env: dict[str, str] | None = None) -> None:
        self.root = root
        self.db = root / "orcha.db"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.mark = uuid.uuid4().hex
        self.extra = extra
        self.env = {
            **os.environ,
            "XDG_DATA_HOME": str(root / "data"),
            "XDG_STATE_HOME": str(root / "state"),
            "XDG_RUNTIME_DIR": str(root / "run"),
            "ORCHA_TOKEN": "",
            MARK: self.mark,
            **(env or {}),
        }
        (root / "run").mkdir(mode=0o700, parents=True, exist_ok=True)
        self.process: subprocess.Popen[bytes] | None = None
        self.token = ""

    def start(self, timeout: float = 60) -> None:
        argv = [sys.executable, "-m", "orcha", "serve", "--port", str(self.port), "--db", str(self.db)]
        with open(self.root / "serve.log", "ab") as log:  # the child keeps its own copy of the descriptor
            self.process = subprocess.Popen([*argv, *self.extra], stderr=log, env=self.env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"orcha serve exited {self.process.returncode}: {self.tail()}")
            try:
                self.token = (self.root / "data" / "orcha" / "token").read_text().strip()
                self.get("/api/dashboard")
                return
            except (OSError, urllib.error.URLError):
                time.sleep(0.05)
        raise AssertionError(f"orcha serve was not ready in {timeout}s: {self.tail()}")

    def kill9(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self, timeout: float = 30) -> float:
        """SIGTERM and wait; returns how long the stop took. A non-zero exit fails."""
        assert self.process is not None
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=timeout)
        took = time.monotonic() - started
        assert code == 0, f"orcha serve exited {code} on SIGTERM: {self.tail()}"
        return took

    def tail(self) -> str:
        return (self.root / "serve.log").read_text(errors="replace")[-3000:]

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self.request("POST", path, body)


class SseReader(threading.Thread):
    """Follows one session's transcript stream to its end, reconnecting with ``Last-Event-ID`` whenever the
    server goes away; keeps every line it received, in order."""

    def __init__(self, server: Server, session_id: str) -> None:
        super().__init__(daemon=True, name=f"sse-{session_id}")
        self.server = server
        self.session_id = session_id
        self.lines: list[tuple[int, str, str]] = []
        self.ended = threading.Event()
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set() and not self.ended.is_set():
            try:
                self._follow()
            except (OSError, urllib.error.URLError, ValueError):
                time.sleep(0.1)

    def _follow(self) -> None:
        headers = {"Authorization": f"Bearer {self.server.token}", "Accept": "text/event-stream"}
        if self.lines:
            headers["Last-Event-ID"] = str(self.lines[-1][0])
        path = f"/api/sessions/{self.session_id}/stream"
        request = urllib.request.Request(self.server.url + path, headers=headers)
        with urllib.request.urlopen(request, timeout=30) as response:
            event: str | None = None
            for raw in response:
                line = raw.decode().rstrip("\n")
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event == "line":
                    data = json.loads(line[6:])
                    self.lines.append((int(data["seq"]), data["kind"], data["body"]))
                elif line.startswith("data: ") and event == "end":
                    self.ended.set()
                    return
                elif not line:
                    event = None


class Readers:
    """One :class:`SseReader` per session of the run, started as sessions appear."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.by_session: dict[str, SseReader] = {}

    def follow(self, objective_ids: Sequence[str]) -> None:
        for objective_id in objective_ids:
            try:
                sessions = self.server.get(f"/api/objectives/{objective_id}")["sessions"]
            except (OSError, urllib.error.URLError):
                return
            for session in sessions:
                if session["id"] not in self.by_session:
                    reader = SseReader(self.server, session["id"])
                    self.by_session[session["id"]] = reader
                    reader.start()

    def finish(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        for reader in self.by_session.values():
            reader.ended.wait(max(0.0, deadline - time.monotonic()))
        for reader in self.by_session.values():
            reader.stopping.set()


def wait_until(
    check: Callable[[], bool], timeout: float, what: str, *, poll: Callable[[], None] = lambda: None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        poll()
        try:
            if check():
                return
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def all_done(server: Server, objective_ids: Sequence[str]) -> bool:
    return all(server.get(f"/api/objectives/{o}")["status"] == "done" for o in objective_ids)


def crash_loop(
    server: Server,
    objective_ids: Sequence[str],
    *,
    kills: int,
    seed: int,
    between: tuple[float, float] = (0.3, 1.5),
    readers: Readers | None = None,
) -> list[float]:
    """Kill the running server ``kills`` times, at seeded random moments, restarting it each time; returns
    the moments chosen. The caller started the server and made the objectives."""
    chosen = random.Random(seed)
    moments = []
    for _ in range(kills):
        moment = chosen.uniform(*between)
        moments.append(moment)
        deadline = time.monotonic() + moment
        while time.monotonic() < deadline:
            if readers is not None:
                readers.follow(objective_ids)
            time.sleep(0.05)
        server.kill9()
        server.start()
    return moments


def tally(db: pathlib.Path) -> dict[str, Any]:
    """What the run made, per objective title, read from the database (after the server stopped)."""
    conn = apsw.Connection(str(db))
    try:

        def rows(sql: str) -> list[tuple[Any, ...]]:
            return list(conn.execute(sql))

        result: dict[str, Any] = {"integrity": rows("PRAGMA integrity_check"), "objectives": {}}
        for objective_id, title, status in rows("SELECT id, title, status FROM objectives ORDER BY title"):

            def count(sql: str, oid: str = objective_id) -> int:
                return int(conn.execute(sql, (oid,)).fetchone()[0])

            result["objectives"][title] = {
                "status": status,
                "workers": count("SELECT COUNT(*) FROM sessions WHERE objective_id = ? AND role = 'worker'"),
                "managers": count("SELECT COUNT(*) FROM sessions WHERE objective_id = ? AND role = 'manager'"),
                "prs": count("SELECT COUNT(*) FROM pull_requests WHERE objective_id = ?"),
                "questions": count("SELECT COUNT(*) FROM questions WHERE objective_id = ?"),
                "notes": count("SELECT COUNT(*) FROM notes WHERE objective_id = ?"),
                "checkouts": count("SELECT COUNT(*) FROM workspaces WHERE objective_id = ? AND path IS NOT NULL"),
                "unfinished": count(
                    "SELECT COUNT(*) FROM sessions WHERE objective_id = ?"
                    " AND status NOT IN ('completed', 'failed', 'canceled')"
                ),
            }
        result["branches_with_two_prs"] = rows(
            "SELECT branch, COUNT(*) FROM pull_requests GROUP BY objective_id, branch HAVING COUNT(*) > 1"
        )
        result["slots_held"] = rows("SELECT COUNT(*) FROM target_slots")[0][0]
        result["locks_held"] = rows("SELECT COUNT(*) FROM locks")[0][0]
        result["owned_processes"] = rows("SELECT COUNT(*) FROM owned_processes")[0][0]
        return result
    finally:
        conn.close()


def stored_lines(db: pathlib.Path, session_id: str) -> list[tuple[int, str, str]]:
    """A session's transcript as the database holds it (read through a read-only store, a page at a time)."""
    lines: list[tuple[int, str, str]] = []
    with Store(db, readonly=True) as store:
        while True:
            page = store.read_transcript(session_id, after=lines[-1][0] if lines else 0, limit=1000)
            lines.extend((e.seq, str(e.kind), e.body) for e in page.items)
            if len(page.items) < 1000:
                return lines
