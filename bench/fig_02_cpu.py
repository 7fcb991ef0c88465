"""Figure 2, CPU of the orcha process: 1,000 live sessions printing 10 lines/s each, 50 SSE subscribers and
the dashboard's websocket open. Target: at most a quarter of one core.

orcha runs as ``orcha serve`` (with printing agents); its CPU time is read from ``/proc/<pid>/stat`` over a
window that starts once every session prints and every reader is connected. The figure also says whether
orcha kept up: the lines it committed in the window against the lines offered.
"""

from __future__ import annotations

import functools
import pathlib
import tempfile
import time

import trio
from trio_websocket import open_websocket_url

from bench._agents import Plan, plan_prompt
from bench._baselines import count, raw_insert_seconds
from bench._harness import ServeProcess, StreamLog, create_printers, follow_stream, wait_statuses
from bench._lines import line_body
from bench._result import Result

FIGURE = "2"
TITLE = "CPU, 1,000 live sessions"
TARGET = "≤ 0.25 core"
RATE = 10.0


async def _measure(
    root: pathlib.Path, sessions: int, subscribers: int, warmup: float, window: float
) -> dict[str, float]:
    server = ServeProcess(root, root / "orcha.db", printers=True, extra=["--max-managers", str(sessions + 8)])
    await server.start()
    messages = 0
    try:
        gate = root / "go"
        plans = [
            Plan(lines=-1, rate=RATE, size=100, gate=str(gate), tag=str(i), phase=(i / sessions) / RATE)
            for i in range(sessions)
        ]
        created = time.perf_counter()
        ids = await create_printers(server, [plan_prompt(plan) for plan in plans])
        await wait_statuses(server, ids, ["running"])
        created = time.perf_counter() - created
        logs = [StreamLog(session_id) for session_id in ids[:subscribers]]
        async with trio.open_nursery() as nursery:

            async def dashboard_socket() -> None:
                nonlocal messages
                url = f"ws://127.0.0.1:{server.port}/ws"
                async with open_websocket_url(
                    url, extra_headers=[(b"Authorization", f"Bearer {server.token}".encode())]
                ) as ws:
                    while True:
                        await ws.get_message()
                        messages += 1

            nursery.start_soon(dashboard_socket)
            for log in logs:
                nursery.start_soon(functools.partial(follow_stream, server.url, server.token, log))
            for log in logs:
                await log.subscribed.wait()
            gate.touch()
            await trio.sleep(warmup)
            lines_sql = "SELECT COUNT(*) FROM transcript_lines WHERE kind = 1"  # text
            cpu0, wall0, lines0 = server.cpu_seconds(), time.perf_counter(), count(server.db, lines_sql)
            read0 = sum(log.count for log in logs)
            messages0 = messages
            await trio.sleep(window)
            cpu1, wall1, lines1 = server.cpu_seconds(), time.perf_counter(), count(server.db, lines_sql)
            read1 = sum(log.count for log in logs)
            messages1 = messages
            rss = server.rss_bytes()
            nursery.cancel_scope.cancel()
    finally:
        await server.stop()
    wall = wall1 - wall0
    return {
        "cores": (cpu1 - cpu0) / wall,
        "committed_lines_per_s": (lines1 - lines0) / wall,
        "offered_lines_per_s": sessions * RATE,
        "subscriber_lines_per_s": (read1 - read0) / wall,
        "subscriber_offered_per_s": subscribers * RATE,
        "websocket_messages_per_s": (messages1 - messages0) / wall,
        "window_s": wall,
        "setup_s": created,
        "rss_mb": rss / 2**20,
    }


RAW_COMMIT = 10
"""Lines per commit in the raw floor: what orcha's writer commits at this load (one commit a millisecond)."""


def _raw_floor(root: pathlib.Path, sessions: int, seconds: float) -> float:
    """Cores raw apsw takes to insert what the sessions offer, as it arrives (interleaved over every
    session), ``RAW_COMMIT`` lines a commit: the storage's own floor at this load (each line lands on its
    session's last page, so a commit writes about one page per line)."""
    now = time.time()
    lines = int(sessions * RATE * seconds)
    rows = [
        (f"ses_{n % sessions:012x}", n // sessions + 1, "text", line_body(now, str(n), n, 100), now)
        for n in range(lines)
    ]
    return raw_insert_seconds(root / "raw.db", rows, batch=RAW_COMMIT) / seconds


def run(smoke: bool) -> Result:
    sessions, subscribers, warmup, window = (20, 5, 1.0, 2.0) if smoke else (1000, 50, 5.0, 20.0)
    with tempfile.TemporaryDirectory(prefix="orcha-bench-") as tmp:
        measured = trio.run(_measure, pathlib.Path(tmp), sessions, subscribers, warmup, window)
        measured["raw_floor_cores"] = _raw_floor(pathlib.Path(tmp), sessions, 2.0 if smoke else 10.0)
    cores = measured["cores"]
    kept = measured["committed_lines_per_s"] / measured["offered_lines_per_s"]
    return Result(
        figure=FIGURE,
        title=TITLE,
        orcha=cores,
        baseline=1.0,
        ratio=cores,
        unit="core",
        target=TARGET,
        passed=cores <= 0.25 and kept >= 0.95,
        notes=(
            f"{sessions:,} sessions x {RATE:.0f} lines/s, {subscribers} SSE subscribers, the websocket; committed"
            f" {measured['committed_lines_per_s']:,.0f} of {measured['offered_lines_per_s']:,.0f} lines/s offered;"
            f" raw apsw inserting them as they arrive ({RAW_COMMIT} a commit)"
            f" takes {measured['raw_floor_cores']:.2f} core"
        ),
        metrics=measured,
    )
