"""The PR-feedback monitor: polls open PRs and spawns a follow-up worker for new review feedback."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import trio

from orcha.errors import OrchaError
from orcha.model import PRState
from orcha.ports import Db

log = logging.getLogger(__name__)


class PRMonitor:
    name = "pr-monitor"

    def __init__(self, db: Db, refresh: Callable[[str], Awaitable[int]], *, interval: float) -> None:
        self._db = db
        self._refresh = refresh
        self._interval = interval

    async def run(self) -> None:
        while True:
            await self.poll_once()
            await trio.sleep(self._interval)

    async def poll_once(self) -> int:
        """Refresh every open PR; returns how many follow-up sessions were spawned."""
        spawned = 0
        prs = await self._db.run(lambda s: s.list_pull_requests(state=PRState.OPEN))
        for pr in prs:
            try:
                spawned += await self._refresh(pr.id)
            except OrchaError as exc:
                log.warning("refreshing %s failed: %s", pr.url, exc)
        return spawned
