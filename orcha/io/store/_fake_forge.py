"""The fake forge's pull requests, kept so a restart with the fake forge behaves like one with a real forge."""

from __future__ import annotations

import json
from typing import Any

from orcha.io.store._db import Database


class FakeForgeMixin:
    _db: Database

    def fake_forge_prs(self) -> list[dict[str, Any]]:
        """The fake forge's pull requests as it saved them, oldest first (its state across restarts)."""
        with self._db.read() as tx:
            return [json.loads(r["data"]) for r in tx.rows("SELECT data FROM fake_forge_prs ORDER BY rowid")]

    def save_fake_forge_pr(self, url: str, data: dict[str, Any]) -> None:
        """Keep (or replace) one of the fake forge's pull requests, so a restart finds it."""
        with self._db.write() as tx:
            tx.execute(
                "INSERT INTO fake_forge_prs (url, data) VALUES (?, ?)"
                " ON CONFLICT(url) DO UPDATE SET data = excluded.data",
                (url, json.dumps(data, sort_keys=True)),
            )
