"""What the web layer is handed: the operations, the change feed, a read-only gateway, the agents' access."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

import attrs

from orcha.actors.changes import ChangeFeed
from orcha.actors.operations import Operations
from orcha.agents.tools import ToolSurface
from orcha.ports import Db
from orcha.store_port import StorePort

R = TypeVar("R")


class AgentAccess(Protocol):
    """What ``/mcp/<session id>`` needs: the session's secret while it runs, and its tool surface."""

    def mcp_secret(self, session_id: str) -> str | None: ...

    def tools_for(self, session_id: str) -> ToolSurface: ...


@attrs.frozen(kw_only=True)
class WebContext:
    operations: Operations
    changes: ChangeFeed
    agents: AgentAccess
    reader: Db
    token: str | None = None
    keepalive_seconds: float = 15.0

    async def read(self, fn: Callable[[StorePort], R]) -> R:
        """Run a read on the web's own connection (it sees committed data only)."""
        return await self.reader.run(fn)
