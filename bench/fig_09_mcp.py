"""Figure 9, MCP: a read-only manager tool call (``list_sessions``) through the official ``mcp`` client,
divided by a plain authenticated GET of the same facts (``GET /api/objectives/{id}``, the objective with its
sessions) on the same server. Calls alternate, one at a time; the medians count.

orcha runs as ``orcha serve`` (with printing agents: the manager sits running, so its endpoint stays open).
The session's MCP secret is derived from the server's ``mcp-key`` file, as orcha derives it.
"""

from __future__ import annotations

import pathlib
import tempfile
import time

import httpx2
import trio
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from bench._agents import IDLE, plan_prompt
from bench._harness import ServeProcess, create_printers, median, wait_statuses
from bench._result import Result

FIGURE = "9"
TITLE = "MCP tool call"
TARGET = "≤ 3"


async def _measure(root: pathlib.Path, calls: int) -> dict[str, float]:
    from orcha.actors.endpoints import McpSecrets

    server = ServeProcess(root, root / "orcha.db", printers=True)
    await server.start()
    try:
        [manager_id] = await create_printers(server, [plan_prompt(IDLE)])
        await wait_statuses(server, [manager_id], ["running"])
        objective_id = (await server.get(f"/api/sessions/{manager_id}"))["objective_id"]
        key = (root / "data" / "orcha" / "mcp-key").read_text().strip().encode()
        secret = McpSecrets(key).secret_of(manager_id)
        url = f"{server.url}/mcp/{manager_id}"
        assert server.client is not None
        tool_times, get_times = [], []
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {secret}"}, timeout=httpx2.Timeout(30, read=60))
        async with http, Client(streamable_http_client(url, http_client=http), mode="legacy") as client:
            for call in range(calls + 5):
                started = time.perf_counter()
                listed = await client.call_tool("list_sessions", {})
                took_tool = time.perf_counter() - started
                if listed.is_error:
                    raise RuntimeError(f"list_sessions failed: {listed}")
                started = time.perf_counter()
                answer = await server.client.get(f"/api/objectives/{objective_id}")
                answer.raise_for_status()
                took_get = time.perf_counter() - started
                if call >= 5:  # the first few warm both paths
                    tool_times.append(took_tool)
                    get_times.append(took_get)
    finally:
        await server.stop()
    return {"tool_ms": median(tool_times) * 1000, "get_ms": median(get_times) * 1000, "calls": calls}


def run(smoke: bool) -> Result:
    with tempfile.TemporaryDirectory(prefix="orcha-bench-") as tmp:
        measured = trio.run(_measure, pathlib.Path(tmp), 20 if smoke else 300)
    ratio = measured["tool_ms"] / measured["get_ms"]
    return Result(
        figure=FIGURE,
        title=TITLE,
        orcha=measured["tool_ms"],
        baseline=measured["get_ms"],
        ratio=ratio,
        unit="ms",
        target=TARGET,
        passed=ratio <= 3,
        notes=f"median of {measured['calls']} list_sessions calls vs as many GET /api/objectives/{{id}}",
        metrics=measured,
    )
