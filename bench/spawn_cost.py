"""Figure 7's two runs, with what each costs: sessions a second, and the CPU a session takes on the trio thread
(``time.thread_time``) and in the children (``os.times``), for orcha and for raw ``trio.run_process``.

    .venv/bin/python bench/spawn_cost.py [SESSIONS]

The figure's ratio says how far orcha is from the raw spawns; this says where: the trio thread (orcha's own
work, one thread) or the children (the program, and the gate's ``sh`` before it). To compare two commits back to
back, run another checkout's copy (``.venv/bin/python <checkout>/bench/spawn_cost.py``): it imports its own orcha.
"""

from __future__ import annotations

import os
import pathlib
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable

import trio

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))  # this checkout's orcha, not the venv's
from bench import fig_07_spawn
from bench._inproc import private_homes
from bench._programs import fake_codex


async def _costs(run: Callable[[], Awaitable[float]], sessions: int) -> str:
    thread, children = time.thread_time(), _children()
    elapsed = await run()
    thread, children = time.thread_time() - thread, _children() - children
    return (
        f"{sessions / elapsed:6.0f} sessions/s; a session: trio thread {1000 * thread / sessions:.2f} ms,"
        f" children {1000 * children / sessions:.2f} ms"
    )


def _children() -> float:
    times = os.times()
    return times.children_user + times.children_system


def main(sessions: int) -> None:
    with tempfile.TemporaryDirectory(prefix="orcha-bench-") as tmp:
        root = pathlib.Path(tmp)
        program = fake_codex(root)
        with private_homes(root):
            orcha = trio.run(_costs, lambda: fig_07_spawn._orcha(root, program, sessions), sessions)
        raw = trio.run(_costs, lambda: fig_07_spawn._raw(program, sessions), sessions)
    print(f"orcha {orcha}\nraw   {raw}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 300)
