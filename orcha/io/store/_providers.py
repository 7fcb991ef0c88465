"""Provider limits: which agents are exhausted until when, kept across restarts."""

from __future__ import annotations

from orcha.io.store._db import Database


class ProvidersMixin:
    _db: Database

    def set_provider_exhausted(self, agent: str, *, until: float | None, billing: bool, reason: str) -> None:
        """Record that ``agent`` refuses work until ``until`` (``None``: until the user answers)."""
        with self._db.write() as tx:
            tx.execute(
                "INSERT INTO provider_limits (agent, exhausted_until, billing, reason, updated_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT(agent) DO UPDATE SET exhausted_until = excluded.exhausted_until,"
                " billing = excluded.billing, reason = excluded.reason, updated_at = excluded.updated_at",
                (agent, until, int(billing), reason, tx.now),
            )
            tx.event("provider_exhausted", agent=agent, until=until, billing=billing, reason=reason)

    def clear_provider_exhausted(self, agent: str, *, reason: str) -> bool:
        """Forget ``agent``'s exhaustion; ``False`` when none was recorded."""
        with self._db.write() as tx:
            tx.execute("DELETE FROM provider_limits WHERE agent = ?", (agent,))
            if not tx.changes():
                return False
            tx.event("provider_available", agent=agent, reason=reason)
            return True

    def provider_limits(self) -> list[tuple[str, float | None, bool, str]]:
        """Every recorded exhaustion as ``(agent, until, billing, reason)``."""
        with self._db.read() as tx:
            rows = tx.rows("SELECT agent, exhausted_until, billing, reason FROM provider_limits ORDER BY agent")
            return [(r["agent"], r["exhausted_until"], bool(r["billing"]), r["reason"]) for r in rows]
