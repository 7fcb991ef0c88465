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

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks if c.required)

    @property
    def missing(self) -> list[str]:
        return [f"{c.name}: {c.detail}" if c.detail else c.name for c in self.checks if c.required and not c.ok]


Doctor = Callable[[Target], Awaitable[DoctorReport]]
"""Runs a target's checks (outside any transaction)."""
