"""The fake agents' conversations (where each one is in its script), so a restarted fake carries on."""

from __future__ import annotations

import json
from typing import Any

from orcha.io.store._db import Database


class FakeAgentsMixin:
    _db: Database

    def fake_conversation(self, provider_session_id: str) -> dict[str, Any] | None:
        """A fake agent's conversation as it saved it, or ``None``."""
        with self._db.read() as tx:
            data = tx.value(
                "SELECT data FROM fake_agent_conversations WHERE provider_session_id = ?", (provider_session_id,)
            )
            return None if data is None else dict(json.loads(data))

    def save_fake_conversation(self, provider_session_id: str, data: dict[str, Any]) -> None:
        """Keep (or replace) a fake agent's place in its conversation."""
        with self._db.write() as tx:
            tx.execute(
                "INSERT INTO fake_agent_conversations (provider_session_id, data) VALUES (?, ?)"
                " ON CONFLICT(provider_session_id) DO UPDATE SET data = excluded.data",
                (provider_session_id, json.dumps(data, sort_keys=True)),
            )
