"""The PR-feedback monitor: polls open PRs and spawns a follow-up worker for new review feedback."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import trio

from orcha.errors import OrchaError
from orcha.model import PRState

if TYPE_CHECKING:
    from orcha.actors.orchestrator import Orchestrator

log = logging.getLogger(__name__)


class PRMonitor:
    name = "pr-monitor"

    def __init__(self, orchestrator: Orchestrator) -> None:
        self._orch = orchestrator

    async def run(self) -> None:
        while True:
            await self.poll_once()
            await trio.sleep(self._orch.config.pr_poll_interval)

    async def poll_once(self) -> int:
        """Refresh every open PR; returns how many follow-up sessions were spawned."""
        spawned = 0
        prs = await self._orch.db.run(lambda s: s.list_pull_requests(state=PRState.OPEN))
        for pr in prs:
            try:
                spawned += await self._orch.pull_requests.refresh(pr.id)
            except OrchaError as exc:
                log.warning("refreshing %s failed: %s", pr.url, exc)
        return spawned
