"""Issue 16's tmux case: a ``--tmux`` shell runs ``seq 1 N``; how long until its pane's log holds the last line
(captured), and until an SSE subscriber reads it (delivered), both from the moment the command is typed.

    .venv/bin/python bench/tmux_burst.py [N]

``orcha serve --tmux`` runs with fake agents (the shell is a real bash in a real tmux, on a tmux server of its
own), in folders of its own. A pane's program is not slowed down by orcha's reading (tmux writes its log
whatever orcha does), so the delivery trails the capture by what orcha takes to ingest the lines: this prints
both, and checks the subscriber got every line once, in order.
"""

from __future__ import annotations

import pathlib
import sys
import tempfile
import time

import httpx
import trio

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))  # this checkout's orcha, not the venv's
from bench._harness import ServeProcess, wait_statuses

POLL = 0.005


def _holds(log_dir: pathlib.Path, last: bytes) -> bool:
    """Whether the pane's log (the one log in ``log_dir``) holds the line ``last`` near its end."""
    logs = list(log_dir.glob("*.log"))
    return bool(logs) and b"\n" + last + b"\r\n" in logs[0].read_bytes()[-256:]


async def _captured(log_dir: pathlib.Path, last: bytes, steered: trio.Event) -> float:
    """When the pane's log first holds the line ``last``, after the command was typed."""
    await steered.wait()
    while not await trio.to_thread.run_sync(_holds, log_dir, last):  # noqa: ASYNC110 - a file's growth
        await trio.sleep(POLL)
    return time.perf_counter()


async def _measure(root: pathlib.Path, count: int) -> str:
    server = ServeProcess(root, root / "orcha.db", extra=["--tmux"])
    server.env["TMUX_TMPDIR"] = str(root / "tmux")  # a tmux server of its own, never the user's
    (root / "tmux").mkdir(mode=0o700)
    await server.start()
    try:
        made = await server.post("/api/objectives", {"title": "burst", "prompt": "a shell", "agent": "shell"})
        session_id = made["manager_session_id"]
        await wait_statuses(server, [session_id], ["running"])
        await trio.sleep(1.0)  # the shell's prompt is up
        numbers: list[int] = []
        steered = trio.Event()
        captured: list[float] = []
        async with (
            httpx.AsyncClient(base_url=server.url, headers=server.headers, timeout=120) as client,
            client.stream("GET", f"/api/sessions/{session_id}/stream") as stream,
            trio.open_nursery() as nursery,
        ):

            async def capture() -> None:
                captured.append(await _captured(root / "state" / "orcha" / "tmux", str(count).encode(), steered))

            nursery.start_soon(capture)
            with trio.fail_after(120):
                started = time.perf_counter()
                await client.post(f"/api/sessions/{session_id}/steer", json={"text": f"seq 1 {count}"})
                steered.set()
                async for line in stream.aiter_lines():
                    body = line.partition('"body":"')[2].partition('"')[0] if line.startswith("data:") else ""
                    if body.isdigit():
                        numbers.append(int(body))
                        if numbers[-1] == count:
                            break
                delivered = time.perf_counter()
        complete = numbers == list(range(1, count + 1))
    finally:
        await server.stop()  # (a graceful stop leaves the pane running: its tmux server goes next)
        await trio.run_process(
            ["tmux", "kill-server"], env=server.env, capture_stdout=True, capture_stderr=True, check=False
        )
    return (
        f"{count:,} lines: captured {captured[0] - started:.2f} s, delivered {delivered - started:.2f} s"
        f" ({count / (delivered - started):,.0f} lines/s); every line once, in order: {complete}"
    )


def main(count: int) -> None:
    with tempfile.TemporaryDirectory(prefix="orcha-bench-") as tmp:
        print(trio.run(_measure, pathlib.Path(tmp), count))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
