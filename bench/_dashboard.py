"""Timing ``GET /api/dashboard`` on two servers at once, requests alternating, so both see the same machine."""

from __future__ import annotations

import pathlib
import time
from typing import Any

import trio

from bench._dbgen import working_copy
from bench._harness import ServeProcess, median

SLOTS = ["--capacity", "64", "--max-concurrent", "64", "--max-managers", "64"]


async def _live(server: ServeProcess, expected: int) -> None:
    """Wait until the database's live work runs again (orcha requeues it at start and places it)."""
    with trio.fail_after(120):
        while True:
            dashboard = await server.get("/api/dashboard")
            if sum(1 for s in dashboard["sessions"] if s["status"] == "running") >= expected:
                return
            await trio.sleep(0.1)


async def compare(
    root: pathlib.Path, databases: dict[str, pathlib.Path], *, live_sessions: int, requests: int
) -> dict[str, dict[str, Any]]:
    """Serve each database (a working copy) with orcha serve, wait for its live work to run, then time
    ``requests`` dashboard GETs on each, alternating; the median seconds and the response sizes per name."""
    servers = {}
    try:
        for name, source in databases.items():
            folder = root / name
            server = servers[name] = ServeProcess(folder, working_copy(source, folder), printers=True, extra=SLOTS)
            await server.start()
        for server in servers.values():
            await _live(server, live_sessions)
        times: dict[str, list[float]] = {name: [] for name in servers}
        sizes: dict[str, list[int]] = {name: [] for name in servers}
        for round_ in range(requests + 3):
            for name, server in servers.items():
                assert server.client is not None
                started = time.perf_counter()
                answer = await server.client.get("/api/dashboard")
                body = answer.content
                took = time.perf_counter() - started
                answer.raise_for_status()
                if round_ >= 3:  # the first few warm the server's caches
                    times[name].append(took)
                    sizes[name].append(len(body))
        return {
            name: {
                "median_s": median(times[name]),
                "min_s": min(times[name]),
                "bytes": max(sizes[name]),
                "bytes_min": min(sizes[name]),
            }
            for name in servers
        }
    finally:
        for server in servers.values():
            await server.stop()
