"""Async access to the store for trio code: each store call runs in one worker thread, one at a time.

The store is synchronous and each call is one short transaction, so a transaction never spans an ``await``.
``inline=True`` runs calls on the trio thread instead: the same store code, with no thread hop, which tests
on a virtual clock use (trio's autojump clock would otherwise jump while a worker thread runs).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import trio

from orcha.io.store import Store
from orcha.ports import Db
from orcha.store_port import StorePort

R = TypeVar("R")


class StoreGateway:
    """Implements :data:`orcha.ports.Db` (a ``StoreAccess[StorePort]``) over a :class:`Store`."""

    def __init__(self, store: Store, *, inline: bool = False) -> None:
        self.store = store
        self.inline = inline
        self._limiter = trio.CapacityLimiter(1)

    async def run(self, fn: Callable[[Store], R]) -> R:
        """Run ``fn(store)``; it is not abandoned on cancellation, so its transaction always completes."""
        if self.inline:
            await trio.lowlevel.checkpoint()
            return fn(self.store)
        return await trio.to_thread.run_sync(fn, self.store, limiter=self._limiter)


def _conforms(gateway: StoreGateway, store: Store) -> tuple[Db, StorePort]:
    """Never called: here mypy proves the gateway is a ``Db`` and the store a ``StorePort`` (signatures and all)."""
    return gateway, store
