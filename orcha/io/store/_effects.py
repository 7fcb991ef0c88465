"""Exactly-once effects in the store: which request of which session made which record.

The record (a session, a question, an artifact, a note) and its key are written in one transaction, so a
replayed request finds the first record whatever moment orcha was killed at (see :mod:`orcha.effects`).
"""

from __future__ import annotations

from orcha.effects import EffectKey, replays
from orcha.io.store._db import Database, Tx
from orcha.model import QuestionStatus, SessionStatus

_TERMINAL = tuple(str(s) for s in SessionStatus if s.is_terminal)


def _is_live(tx: Tx, tool: str, subject_id: str) -> bool:
    """Whether the record an effect made is still in play (a worker unfinished, a question open)."""
    if tool == "spawn_session":
        status = tx.value("SELECT status FROM sessions WHERE id = ?", (subject_id,))
        return status is not None and status not in _TERMINAL
    if tool == "ask_user":
        return tx.value("SELECT status FROM questions WHERE id = ?", (subject_id,)) == QuestionStatus.OPEN
    return True


def replayed(tx: Tx, effect: EffectKey | None, tool: str) -> str | None:
    """The record ``effect`` already made, when a replay returns it; else ``None`` (and a stale key is let go,
    so the request is made anew)."""
    if effect is None:
        return None
    subject = tx.value(
        "SELECT subject_id FROM effects WHERE session_id = ? AND key = ?", (effect.session_id, effect.key)
    )
    if subject is None:
        return None
    if replays(effect, first_is_live=_is_live(tx, tool, subject)):
        return str(subject)
    tx.execute("DELETE FROM effects WHERE session_id = ? AND key = ?", (effect.session_id, effect.key))
    return None


def remember(tx: Tx, effect: EffectKey | None, tool: str, subject_id: str) -> None:
    """Record that ``effect`` made ``subject_id`` (in the transaction that made it)."""
    if effect is not None:
        tx.execute(
            "INSERT INTO effects (session_id, key, tool, subject_id, created_at) VALUES (?, ?, ?, ?, ?)",
            (effect.session_id, effect.key, tool, subject_id, tx.now),
        )


class EffectsMixin:
    _db: Database

    def find_effect(self, effect: EffectKey, tool: str) -> str | None:
        """The id of the record a replay of ``effect`` returns, or ``None`` when the request is new."""
        with self._db.read() as tx:
            subject = tx.value(
                "SELECT subject_id FROM effects WHERE session_id = ? AND key = ?", (effect.session_id, effect.key)
            )
            if subject is None or not replays(effect, first_is_live=_is_live(tx, tool, subject)):
                return None
            return str(subject)
