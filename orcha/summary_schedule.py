"""When the transcript writer stores a session's summary (what it is doing now): at most once an interval per
session, with its lines when it is due; a session that went quiet with a summary unwritten is caught up within
two intervals. Every step costs what the sessions of the batch cost, not what all the sessions do.

Plain state and arithmetic, no I/O and no clock of its own (the caller passes ``now``), so it is tested without
trio.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable

INTERVAL = 1.0
"""A session's summary is written at most once in this many seconds."""
FORGET_AFTER = 10_000
"""Past this many remembered writes, the ones older than an interval are forgotten (an amortized sweep)."""


class SummarySchedule:
    """Which sessions' summaries a commit writes (:meth:`due`), and when a commit of summaries alone is due
    (:meth:`deadline`) for the sessions that went quiet."""

    def __init__(self, interval: float = INTERVAL) -> None:
        self._interval = interval
        self._written: dict[str, float] = {}
        """When each session's summary was last written, for the sessions written lately."""
        self._stale: dict[str, float] = {}
        """Sessions with lines their stored summary does not cover, each with when it is caught up at the latest."""
        self._deadlines: list[tuple[float, str]] = []
        """``_stale``'s deadlines as a heap (an entry no longer in ``_stale`` is skipped when it comes up)."""

    def due(self, session_ids: Iterable[str], now: float) -> list[str]:
        """The sessions whose summaries this commit writes: those of ``session_ids`` (the batch's) not written
        within the interval, and the quiet ones whose catch-up is due. Call :meth:`written` after the commit."""
        due = [sid for sid in dict.fromkeys(session_ids) if now >= self._written.get(sid, -math.inf) + self._interval]
        while self._deadlines and self._deadlines[0][0] <= now:
            deadline, sid = heapq.heappop(self._deadlines)
            if self._stale.get(sid) == deadline and sid not in due:
                due.append(sid)
        return due

    def written(self, due: Iterable[str], session_ids: Iterable[str], now: float) -> None:
        """A commit wrote the summaries of ``due``; the other sessions of ``session_ids`` (its batch's) are stale."""
        done = set(due)
        for sid in done:
            self._written[sid] = now
            self._stale.pop(sid, None)
        for sid in session_ids:
            if sid not in done and sid not in self._stale:
                deadline = self._written.get(sid, now) + 2 * self._interval  # its own lines come first, if any
                self._stale[sid] = deadline
                heapq.heappush(self._deadlines, (deadline, sid))
        if len(self._written) > FORGET_AFTER:
            self._written = {sid: t for sid, t in self._written.items() if now < t + self._interval}

    def deadline(self) -> float:
        """When a commit is due for a quiet session's summary (``inf``: none is stale)."""
        while self._deadlines and self._stale.get(self._deadlines[0][1]) != self._deadlines[0][0]:
            heapq.heappop(self._deadlines)
        return self._deadlines[0][0] if self._deadlines else math.inf

    def take_stale(self) -> list[str]:
        """Every stale session, forgotten as stale (the writer is stopping: it writes them all)."""
        stale, self._stale, self._deadlines = list(self._stale), {}, []
        return stale
