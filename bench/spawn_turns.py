"""Figure 7's caller, timed: how long each ``spawn_session`` takes, in turns of trio's loop and in time, and how
long before the last session's end the caller's loop of spawns ends.

    .venv/bin/python bench/spawn_turns.py [SESSIONS]

Figure 7's caller spawns its sessions one at a time (as a manager does, one tool call at a time), eight running
at once; when its loop of spawns ends just before the last session does, the figure is the rate at which one
caller creates sessions while the loop runs the sessions it created, and each spawn's turns are what to cut.
A trio ``Instrument`` counts the loop's turns (``before_io_wait``) and task steps. Another checkout's copy
measures that checkout (``.venv/bin/python <checkout>/bench/spawn_turns.py``).
"""

from __future__ import annotations

import pathlib
import statistics
import sys
import tempfile
import time

import trio

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))  # this checkout's orcha, not the venv's
from bench import fig_07_spawn
from bench._agents import IDLE, Printer, plan_prompt
from bench._baselines import count
from bench._inproc import private_homes, running
from bench._programs import fake_codex


class _Turns(trio.abc.Instrument):
    def __init__(self) -> None:
        self.turns = 0
        self.steps = 0

    def before_io_wait(self, timeout: float) -> None:
        self.turns += 1

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        self.steps += 1


async def _measure(root: pathlib.Path, program: pathlib.Path, sessions: int) -> str:
    from orcha.agents.codex import CodexOptions, CodexProvider

    providers = {"claude": Printer("claude"), "codex": CodexProvider(CodexOptions(binary=str(program)))}
    async with running(root, providers, slots=fig_07_spawn.AT_ONCE, managers=2) as orcha:
        objective, _ = await orcha.operations.create_objective(title="spawn", prompt=plan_prompt(IDLE), agent="claude")
        turns = _Turns()
        trio.lowlevel.add_instrument(turns)
        took, turns_each = [], []
        started = time.perf_counter()
        for _ in range(sessions):
            before, turns_before = time.perf_counter(), turns.turns
            await orcha.operations.spawn_session(objective.id, prompt="quick", agent="codex")
            took.append(time.perf_counter() - before)
            turns_each.append(turns.turns - turns_before)
        spawned = time.perf_counter()
        trio.lowlevel.remove_instrument(turns)
        with trio.fail_after(600):  # polled on a connection of its own, off the trio thread
            while await trio.to_thread.run_sync(count, root / "orcha.db", fig_07_spawn._ENDED_SQL) < sessions:  # noqa: ASYNC110
                await trio.sleep(fig_07_spawn.POLL)
        ended = time.perf_counter()
    spawn_ms = 1000 * statistics.mean(took)
    turn_ms = 1000 * (spawned - started) / max(1, turns.turns)
    return (
        f"{sessions / (ended - started):.0f} sessions/s; a spawn {spawn_ms:.2f} ms"
        f" (p50 {1000 * statistics.median(took):.2f}), {statistics.mean(turns_each):.2f} loop turns"
        f" of {turn_ms:.3f} ms ({turns.steps / max(1, turns.turns):.1f} task steps a turn); the spawns ended"
        f" {1000 * (ended - spawned):.0f} ms (±{1000 * fig_07_spawn.POLL:.0f}) before the last session"
    )


def main(sessions: int) -> None:
    with tempfile.TemporaryDirectory(prefix="orcha-bench-") as tmp:
        root = pathlib.Path(tmp)
        program = fake_codex(root)
        with private_homes(root):
            print(trio.run(_measure, root, program, sessions))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 600)
