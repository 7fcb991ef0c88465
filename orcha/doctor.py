"""A target's doctor report: which checks passed, and what is missing for it to take sessions.

Shared by the target actor (which decides the target's status from it) and the edges that run the checks
(``orcha.io.doctor`` locally, an SSH doctor remotely).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import attrs

from orcha.model import Target


@attrs.frozen(kw_only=True)
class Check:
    name: str
    ok: bool
    detail: str = ""
    required: bool = True


@attrs.frozen(kw_only=True)
class DoctorReport:
    checks: tuple[Check, ...]
    agents: tuple[str, ...] | None = None
    """The agent names this target can run: those whose CLI the doctor found and that answered ``--version``,
    and those that need no CLI of their own (the fakes, the shell). ``None``: the doctor did not look (a test
    doctor, a target kind without agent checks), so no agent is ruled out by it."""

    def can_run(self, agent: str) -> bool:
        """Whether the doctor found what ``agent`` needs (always ``True`` when it did not look)."""
        return self.agents is None or agent in self.agents

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks if c.required)

    @property
    def missing(self) -> list[str]:
        return [f"{c.name}: {c.detail}" if c.detail else c.name for c in self.checks if c.required and not c.ok]


Doctor = Callable[[Target], Awaitable[DoctorReport]]
"""Runs a target's checks (outside any transaction)."""
