"""What a manager is told about its team, as text: pure functions, shared by the store and the team news.

A worker's end is told to its manager in the transaction that ends it (so a crash never loses it); the other
notices (questions, PRs, the team's finish) are written by :mod:`orcha.actors.team_news`.
"""

from __future__ import annotations

from orcha.model import SessionStatus

ENDED_VERBS = {
    SessionStatus.COMPLETED: "completed",
    SessionStatus.FAILED: "failed",
    SessionStatus.CANCELED: "was canceled",
}


def short(text: str | None, limit: int = 400) -> str:
    """``text`` on one line (runs of whitespace folded), cut to ``limit`` characters with an ellipsis."""
    flat = " ".join((text or "").split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def worker_ended(session_id: str, status: SessionStatus, reason: str | None) -> tuple[str, str]:
    """The notice (kind, text) that tells a manager its worker ``session_id`` ended in ``status``."""
    return f"worker_{status}", f"Worker {session_id} {ENDED_VERBS[status]}: {short(reason) or 'no message'}"
