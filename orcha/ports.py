"""The seams between the core and its edges, as Protocols (the edges implement them)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

R = TypeVar("R")


class StoreAccess(Protocol):
    """Async access to the store: ``await db.run(lambda store: store.get_session(sid))``.

    Each call is one short transaction of the synchronous store, run to completion (never abandoned half-way)
    so no transaction spans an ``await``. The real one is ``orcha.io.gateway.StoreGateway``.
    """

    async def run(self, fn: Callable[[Any], R]) -> R: ...
