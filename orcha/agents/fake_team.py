"""How a fake manager looks at its team through its tools: the in-process fake and the fake TUI alike."""

from __future__ import annotations

import collections
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from orcha.agents.tools import ToolOutcome
from orcha.model import TERMINAL_SESSION_STATUSES

ToolCall = Callable[[str, Mapping[str, Any]], Awaitable[ToolOutcome]]
"""A tool call by name and arguments (a :class:`~orcha.agents.tools.ToolSurface`'s ``call``)."""

TERMINAL = frozenset(str(s) for s in TERMINAL_SESSION_STATUSES)


async def workers(call: ToolCall) -> list[dict[str, Any]]:
    """The objective's workers, as ``list_sessions`` shows them."""
    listed = await call("list_sessions", {})
    return [s for s in listed.data.get("sessions", ()) if s.get("role") == "worker"]


def finished(team: list[dict[str, Any]]) -> bool:
    """Every worker has ended (and there is one)."""
    return bool(team) and all(s.get("status") in TERMINAL for s in team)


def still_at_work(team: list[dict[str, Any]]) -> int:
    return sum(1 for s in team if s.get("status") not in TERMINAL)


def running(team: list[dict[str, Any]]) -> list[str]:
    """The ids of the workers at work now (those a message from the user is passed on to)."""
    return [str(s["id"]) for s in team if s.get("status") == "running" and s.get("id")]


async def team_report(call: ToolCall, team: list[dict[str, Any]]) -> str:
    """What a manager says of its finished team (``{team}`` in its later calls)."""
    counts = collections.Counter(str(s.get("status")) for s in team)
    prs = await call("list_prs", {})
    opened = len(prs.data.get("prs", ())) if prs.data else 0
    outcome = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "no workers"
    return f"team finished: {outcome}; {opened} PR(s)"
