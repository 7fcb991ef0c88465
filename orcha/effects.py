"""Exactly-once effects: the key of an effect an agent asks for, and when a replay returns the first result.

An agent that is restarted (orcha was killed, its process was resumed) may ask again for what it already got:
spawn a worker, ask a question, record an artifact, write a note. Each such request carries a key, and the
store keeps, per asking session, which key made which record, in the transaction that makes the record:

- ``call:<id>``: the provider's own id for the tool call (unique per call; the fake agents send one). A replay
  always returns the first result.
- ``args:<hash>``: no call id (an MCP client does not send one): the tool and its arguments. A replay returns
  the first result while that result is still live (its worker unfinished, its question open); once it has
  ended, the same request is a new one (a manager may retry a worker that failed).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import attrs

EFFECT_TOOLS = frozenset({"spawn_session", "ask_user", "record_artifact", "create_note"})
"""The tools whose calls make a record orcha keeps (an agent's own question counts as ``ask_user``)."""


@attrs.frozen
class EffectKey:
    """Which request of which session made (or makes) a record."""

    session_id: str
    key: str

    @property
    def by_call_id(self) -> bool:
        return self.key.startswith("call:")


def effect_key(session_id: str, tool: str, arguments: Mapping[str, Any], call_id: str | None = None) -> EffectKey:
    """The key of ``tool(arguments)`` asked by ``session_id``: its call id when the provider gave one."""
    if call_id:
        return EffectKey(session_id, f"call:{call_id}")
    canonical = json.dumps({"tool": tool, "arguments": arguments}, sort_keys=True, separators=(",", ":"), default=str)
    return EffectKey(session_id, "args:" + hashlib.sha256(canonical.encode()).hexdigest()[:32])


def replays(key: EffectKey, *, first_is_live: bool) -> bool:
    """Whether a request with ``key``, already made once, returns the first result (else it is made anew)."""
    return key.by_call_id or first_is_live
