"""Which provider serves which agent name, which are exhausted until when, and what to fall back to."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

import attrs

from orcha.agents.contract import Provider
from orcha.errors import InvalidInputError


@attrs.frozen(kw_only=True)
class Exhaustion:
    """An agent that refuses work: until ``until`` (Unix seconds), or until the user answers (``None``)."""

    agent: str
    until: float | None
    billing: bool = False
    reason: str = ""

    def active(self, now: float) -> bool:
        return self.until is None or now < self.until


class ProviderRegistry:
    """Agent names → providers, with per-agent exhaustion and an ordered fallback list.

    An exhausted agent is never chosen before its reset time, or before :meth:`clear` (the user's answer).
    """

    def __init__(self, providers: Mapping[str, Provider], *, fallback_order: Sequence[str] = ()) -> None:
        if not providers:
            raise ValueError("a registry needs at least one provider")
        self._providers = dict(providers)
        unknown = [name for name in fallback_order if name not in self._providers]
        if unknown:
            raise ValueError(f"fallback names unknown agents: {unknown}")
        self.fallback_order = tuple(fallback_order)
        self._exhausted: dict[str, Exhaustion] = {}

    @property
    def agents(self) -> tuple[str, ...]:
        return tuple(self._providers)

    def check_agent(self, agent: str) -> str:
        """Return ``agent`` if a provider serves it, else raise :class:`InvalidInputError` naming the known ones."""
        if agent not in self._providers:
            known = ", ".join(sorted(self._providers))
            raise InvalidInputError(f"unknown agent {agent!r}; known agents: {known}", field="agent")
        return agent

    def provider(self, agent: str) -> Provider:
        return self._providers[self.check_agent(agent)]

    def exhaustion(self, agent: str, now: float) -> Exhaustion | None:
        record = self._exhausted.get(agent)
        if record is not None and not record.active(now):
            del self._exhausted[agent]
            return None
        return record

    def is_exhausted(self, agent: str, now: float) -> bool:
        return self.exhaustion(agent, now) is not None

    def mark_exhausted(self, record: Exhaustion) -> None:
        self._exhausted[record.agent] = record

    def clear(self, agent: str) -> None:
        self._exhausted.pop(agent, None)

    def choose(self, agent: str, now: float, *, installed: Collection[str] | None = None) -> str | None:
        """``agent`` if it is available, else the first available agent of the fallback order, else ``None``.

        A fallback must also be ``installed`` where the session runs (the target's doctor found its CLI);
        ``None`` means nothing is known, so nothing is ruled out.
        """
        if not self.is_exhausted(agent, now):
            return agent
        for candidate in self.fallback_order:
            if candidate == agent or self.is_exhausted(candidate, now):
                continue
            if installed is None or candidate in installed:
                return candidate
        return None
