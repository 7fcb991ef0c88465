"""The fake agent CLIs on PATH, each with its own home and log in the test's directory."""

from __future__ import annotations

import json

from orcha.agents.contract import StartRequest, TurnCompleted
from orcha.io.local_executor import LocalExecutor
from orcha.model import SessionRole


def read_log(tmp_path, name: str) -> list[dict]:
    path = tmp_path / f"{name}.log"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def request(tmp_path, prompt: str = "hello", **overrides) -> StartRequest:
    fields = {
        "session_id": "ses_000000000001",
        "objective_id": "obj_000000000001",
        "role": SessionRole.WORKER,
        "agent": "x",
        "prompt": prompt,
        "cwd": str(tmp_path),
        "executor": LocalExecutor(grace=1.0),
    }
    return StartRequest(**{**fields, **overrides})


async def next_turn(events) -> list:
    """Events up to and including the end of a turn (a completion or an exhaustion), or to the end."""
    seen = []
    async for event in events:
        seen.append(event)
        if isinstance(event, TurnCompleted) or type(event).__name__ == "Exhausted":
            break
    return seen
