"""What the figures share: an ``orcha serve`` process, SSE readers, process readings, small statistics.

:class:`ServeProcess` runs orcha as a user does (``python -m orcha serve --port 0 --db …``, or
``python -m bench._serve`` for orcha serve with printing agents) in private XDG folders, and talks to it over
HTTP with its token. :func:`follow_stream` reads one session's SSE stream on a raw socket (h11), cheap enough
that hundreds of them in the benchmark's process do not slow the server's.
"""

from __future__ import annotations

import functools
import json
import math
import os
import pathlib
import signal
import socket
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import h11
import httpx
import trio

from bench._lines import parse_body

ROOT = pathlib.Path(__file__).resolve().parent.parent
CACHE = pathlib.Path(os.environ.get("ORCHA_BENCH_CACHE") or ROOT / "bench" / ".cache")
"""Where generated databases are kept between runs (``$ORCHA_BENCH_CACHE`` moves it)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def private_env(root: pathlib.Path) -> dict[str, str]:
    """orcha's data, state and runtime folders under ``root``, never the user's."""
    (root / "run").mkdir(mode=0o700, parents=True, exist_ok=True)
    return {
        **os.environ,
        "XDG_DATA_HOME": str(root / "data"),
        "XDG_STATE_HOME": str(root / "state"),
        "XDG_RUNTIME_DIR": str(root / "run"),
        "ORCHA_TOKEN": "",
        "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
    }


class ServeProcess:
    """One ``orcha serve`` process on ``db``. ``printers``: orcha serve with :mod:`bench._serve`'s agents."""

    def __init__(
        self, root: pathlib.Path, db: pathlib.Path, *, printers: bool = False, extra: Sequence[str] = ()
    ) -> None:
        self.root = root
        self.db = db
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        module = "bench._serve" if printers else "orcha"
        serve = [] if printers else ["serve"]
        self.argv = [sys.executable, "-m", module, *serve, "--port", str(self.port), "--db", str(db)]
        self.argv += ["--log-level", "warning", *extra]
        self.env = private_env(root)
        self.process: trio.Process | None = None
        self.token = ""
        self.client: httpx.AsyncClient | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def start(self, within: float = 120.0) -> float:
        """Start the process; return the seconds until ``GET /api/dashboard`` first answered 200."""
        log = open(self.root / "serve.log", "ab")  # noqa: SIM115, ASYNC230 - the child keeps its own copy
        started = time.perf_counter()
        self.process = await trio.lowlevel.open_process(self.argv, env=self.env, stderr=log, cwd=str(ROOT))
        log.close()
        token_file = self.root / "data" / "orcha" / "token"
        async with httpx.AsyncClient(base_url=self.url, timeout=5) as probe:
            with trio.fail_after(within):
                while True:
                    if self.process.poll() is not None:
                        raise RuntimeError(f"orcha serve exited {self.process.returncode}: {self.tail()}")
                    if not self.token and token_file.exists():
                        self.token = token_file.read_text().strip()
                    if self.token:
                        try:
                            answer = await probe.get("/api/dashboard", headers=self.headers)
                            if answer.status_code == 200:
                                break
                        except httpx.TransportError:
                            pass
                    await trio.sleep(0.005)
        ready = time.perf_counter() - started
        self.client = httpx.AsyncClient(base_url=self.url, headers=self.headers, timeout=60)
        return ready

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def stop(self) -> None:
        if self.client is not None:
            await self.client.aclose()
            self.client = None
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        with trio.move_on_after(30):
            await self.process.wait()
            return
        self.process.kill()
        await self.process.wait()

    def tail(self) -> str:
        path = self.root / "serve.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    async def get(self, path: str) -> Any:
        assert self.client is not None
        answer = await self.client.get(path)
        answer.raise_for_status()
        return answer.json()

    async def post(self, path: str, body: dict[str, Any]) -> Any:
        assert self.client is not None
        answer = await self.client.post(path, json=body)
        answer.raise_for_status()
        return answer.json()

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    def rss_bytes(self) -> int:
        return rss_bytes(self.pid)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (``/proc/<pid>/stat``)."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_bytes(pid: int | str = "self") -> int:
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {pid}")


# --- SSE ------------------------------------------------------------------------------------------------


@attrs.define
class StreamLog:
    """What one SSE reader saw: the ``line`` events' seqs and bodies' stamps, and when each was read."""

    session_id: str
    subscribed: trio.Event = attrs.field(factory=trio.Event)
    count: int = 0
    last_seq: int = 0
    last_index: int = -1
    first_stamp: float | None = None
    last_stamp: float = 0.0
    latencies: list[float] = attrs.field(factory=list)
    last_read: float = 0.0
    ended: bool = False
    gaps: int = 0


async def follow_stream(
    url: str,
    token: str,
    log: StreamLog,
    *,
    done: Callable[[StreamLog], bool] = lambda _: False,
    stamped: bool = True,
) -> None:
    """Read ``/api/sessions/<id>/stream`` until its ``end`` event or ``done(log)``; every ``line`` event is
    counted, its seq checked (no gap), and with ``stamped`` its body's stamp turned into a latency."""
    host, port = url.removeprefix("http://").split(":")
    stream = await trio.open_tcp_stream(host, int(port))
    async with stream:
        conn = h11.Connection(h11.CLIENT)
        request = h11.Request(
            method="GET",
            target=f"/api/sessions/{log.session_id}/stream",
            headers=[("Host", f"{host}:{port}"), ("Authorization", f"Bearer {token}"), ("Accept", "text/event-stream")],
        )
        await stream.send_all(conn.send(request) + (conn.send(h11.EndOfMessage()) or b""))
        pending = b""
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await stream.receive_some(1 << 16))
                continue
            if isinstance(event, h11.Response):
                if event.status_code != 200:
                    raise RuntimeError(f"stream of {log.session_id}: HTTP {event.status_code}")
                continue
            if isinstance(event, h11.Data):
                now = time.time()
                log.last_read = now
                pending += event.data
                *blocks, pending = pending.split(b"\n\n")
                for block in blocks:
                    if block.startswith(b"retry:"):
                        log.subscribed.set()
                    elif b"event: line" in block:
                        _take_line(log, block, now, stamped)
                    elif b"event: end" in block:
                        log.ended = True
                if log.ended or done(log):
                    return
                continue
            return  # EndOfMessage or ConnectionClosed


def _take_line(log: StreamLog, block: bytes, now: float, stamped: bool) -> None:
    """One ``line`` event: its JSON parsed whole (decoded first: ``json.loads`` of bytes guesses their encoding
    each time), its seq checked, its stamp read. The readers share the machine with the server: what they cost
    a line is taken from it."""
    data = json.loads(block[block.index(b"data: ") + 6 :].decode())
    seq = int(data["seq"])
    if seq != log.last_seq + 1:
        log.gaps += 1
    log.last_seq = seq
    log.count += 1
    if stamped and data["kind"] == "text" and data["body"].count("|") >= 3:
        stamp, _, index = parse_body(data["body"])
        log.latencies.append(now - stamp)
        log.last_index = index
        log.last_stamp = stamp
        if log.first_stamp is None:
            log.first_stamp = stamp


# --- statistics -------------------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) by nearest rank; ``nan`` for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1))
    return ordered[rank]


def median(values: Sequence[float]) -> float:
    return percentile(values, 0.5)


# --- printing sessions in a server --------------------------------------------------------------------------


async def create_printers(server: ServeProcess, prompts: Sequence[str], *, parallel: int = 8) -> list[str]:
    """One objective per prompt (its manager prints the prompt's plan); their manager session ids, in order."""
    ids: list[str | None] = [None] * len(prompts)
    limiter = trio.CapacityLimiter(parallel)

    async def create(index: int) -> None:
        async with limiter:
            answer = await server.post(
                "/api/objectives", {"title": f"bench {index}", "prompt": prompts[index], "agent": "claude"}
            )
            ids[index] = answer["manager_session_id"]

    async with trio.open_nursery() as nursery:
        for index in range(len(prompts)):
            nursery.start_soon(create, index)
    return [i for i in ids if i is not None]


async def wait_statuses(
    server: ServeProcess, session_ids: Sequence[str], statuses: Sequence[str], *, within: float = 300
) -> None:
    """Poll until every session's status is one of ``statuses``."""
    waiting = set(session_ids)
    with trio.fail_after(within):
        while waiting:
            for session_id in list(waiting):
                if (await server.get(f"/api/sessions/{session_id}"))["status"] in statuses:
                    waiting.discard(session_id)
            if waiting:
                await trio.sleep(0.1)


async def print_and_follow(server: ServeProcess, plans: Sequence[Any]) -> tuple[float, list[StreamLog]]:
    """One printing session per plan, each followed by one SSE reader; the gate opens once every session runs
    and every reader is subscribed. Returns the gate's opening time (``time.time()``) and the readers' logs,
    each complete (its session's last line read)."""
    from bench._agents import plan_prompt

    gate = server.root / f"gate-{time.monotonic_ns()}"
    plans = [attrs.evolve(plan, gate=str(gate)) for plan in plans]
    ids = await create_printers(server, [plan_prompt(plan) for plan in plans])
    await wait_statuses(server, ids, ["running"])
    logs = [StreamLog(session_id) for session_id in ids]
    opened = 0.0
    async with trio.open_nursery() as nursery:
        for log, plan in zip(logs, plans, strict=True):

            def done(seen: StreamLog, last: int = plan.lines - 1) -> bool:
                return seen.last_index >= last

            nursery.start_soon(functools.partial(follow_stream, server.url, server.token, log, done=done))
        for log in logs:
            await log.subscribed.wait()
        opened = time.time()
        gate.touch()
    return opened, logs
