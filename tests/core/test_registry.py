"""The provider registry: unknown agents, exhaustion windows, fallbacks."""

from __future__ import annotations

import pytest

from orcha.agents.registry import Exhaustion, ProviderRegistry
from orcha.errors import InvalidInputError
from tests.actors.harness import fake


def test_unknown_agents_are_refused_by_name():
    registry = ProviderRegistry({"claude": fake(), "codex": fake()})
    with pytest.raises(InvalidInputError, match="known agents: claude, codex") as info:
        registry.check_agent("gpt-9")
    assert info.value.field == "agent"


def test_an_exhausted_agent_is_never_chosen_before_its_reset():
    registry = ProviderRegistry({"claude": fake(), "codex": fake()}, fallback_order=("claude", "codex"))
    registry.mark_exhausted(Exhaustion(agent="claude", until=1000.0))
    assert registry.choose("claude", 999.0) == "codex"
    registry.mark_exhausted(Exhaustion(agent="codex", until=None))
    assert registry.choose("claude", 999.0) is None
    assert registry.choose("claude", 1000.0) == "claude"  # the window reset
    assert registry.is_exhausted("codex", 10**12)  # unknown reset: until cleared
    assert registry.choose("codex", 10**12) == "claude"
    registry.clear("codex")
    assert registry.choose("codex", 0) == "codex"
