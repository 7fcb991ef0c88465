"""The tool surface an agent drives orcha through: one call by name, as MCP's ``tools/call`` does.

The orchestrator implements it (``orcha.actors.tools.SessionTools``), scoped to the calling session. The fake
provider calls it directly; the MCP endpoint is a thin adapter over the same object, so both take one path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import attrs


@attrs.frozen(kw_only=True)
class ToolOutcome:
    """What a tool call returned: ``text`` for the agent, ``data`` for programs; ``is_error`` for refusals."""

    text: str
    data: Mapping[str, Any] = attrs.field(factory=dict)
    is_error: bool = False


class ToolSurface(Protocol):
    async def call(self, name: str, arguments: Mapping[str, Any], *, call_id: str | None = None) -> ToolOutcome:
        """Run tool ``name``. Bad arguments, unknown ids and refusals come back as ``is_error`` outcomes.

        ``call_id`` is the provider's own id for this call, when it has one: a replay of a call (the agent
        was restarted) returns the first call's result instead of doing it again (:mod:`orcha.effects`)."""
