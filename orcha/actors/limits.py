"""Provider usage exhaustion, durably: the registry decides, the store remembers across restarts."""

from __future__ import annotations

from collections.abc import Callable

from orcha.agents.registry import Exhaustion, ProviderRegistry
from orcha.ports import Db


class ProviderLimitBook:
    """Marks and clears a provider's exhaustion in the registry and in the store."""

    def __init__(self, db: Db, providers: ProviderRegistry, wake_scheduler: Callable[[], None]) -> None:
        self._db = db
        self._providers = providers
        self._wake = wake_scheduler

    async def load(self) -> None:
        """Bring back the exhaustions recorded before orcha last stopped."""
        for agent, until, billing, reason in await self._db.run(lambda s: s.provider_limits()):
            if agent in self._providers.agents:
                self._providers.mark_exhausted(Exhaustion(agent=agent, until=until, billing=billing, reason=reason))

    async def mark_exhausted(self, record: Exhaustion) -> None:
        self._providers.mark_exhausted(record)
        await self._db.run(
            lambda s: s.set_provider_exhausted(
                record.agent, until=record.until, billing=record.billing, reason=record.reason
            )
        )

    async def clear_exhausted(self, agent: str, *, reason: str) -> None:
        self._providers.clear(agent)
        await self._db.run(lambda s: s.clear_provider_exhausted(agent, reason=reason))
        self._wake()
