"""What the web layer needs: the orchestrator for operations, a read-only gateway for reads, the token."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import attrs

from orcha.actors.orchestrator import Orchestrator
from orcha.ports import Db
from orcha.store_port import StorePort

R = TypeVar("R")


@attrs.frozen(kw_only=True)
class WebContext:
    orchestrator: Orchestrator
    reader: Db
    token: str | None = None
    keepalive_seconds: float = 15.0

    async def read(self, fn: Callable[[StorePort], R]) -> R:
        """Run a read on the web's own connection (it sees committed data only)."""
        return await self.reader.run(fn)
