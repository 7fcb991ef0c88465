"""What a dashboard socket told of the sessions that printed, overlaid on the rows it sends until the store
shows as much.

The store writes a session's summary (``now`` and ``last_output_at``) at most once a second
(:mod:`orcha.summary_schedule`), while the socket's activity messages say every commit's. A session's row read
from the store in between (its status changed) would take the page back to an older ``now``, which would
stand until the session printed again: a quiet session would show a line it printed seconds ago. So a socket
remembers what it told and puts it on such a row, until the store has caught up (the row's
``last_output_at`` is as new) or :data:`HOLD_SECONDS` passed (the store catches up within two seconds).

Plain state, no I/O and no clock of its own (the caller passes ``at``), so it is tested without trio.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from orcha.oneline import Now
from orcha.views import SessionRow

HOLD_SECONDS = 10.0
"""How long a socket holds what it told: past the store's catch-up (two summary intervals), with room for a
busy writer."""


@attrs.frozen
class _Told:
    now: str | None
    last_output_at: float
    at: float


class ToldNows:
    """The ``now`` of each session a socket told of lately (see the module's docstring)."""

    def __init__(self, hold: float = HOLD_SECONDS) -> None:
        self._hold = hold
        self._told: dict[str, _Told] = {}
        """Oldest told first (a session told again moves to the end), so expiry looks at the front only."""

    def __len__(self) -> int:
        return len(self._told)

    def told(self, printed: Mapping[str, Now | None], at: float) -> None:
        """The socket sent this activity at ``at``: a ``now`` of ``None`` keeps the one told before (its
        session's newest lines said nothing new); a session with no :class:`Now` was not told anything."""
        self._expire(at)
        for session_id, now in printed.items():
            if now is None:
                continue
            held = self._told.pop(session_id, None)
            said = now.now if now.now is not None or held is None else held.now
            self._told[session_id] = _Told(said, now.last_output_at, at)

    def overlay(self, row: SessionRow, at: float) -> SessionRow:
        """``row`` as read from the store, with what the socket told of its session when that is newer."""
        self._expire(at)
        held = self._told.get(row.id)
        if held is None:
            return row
        if row.last_output_at is not None and row.last_output_at >= held.last_output_at:
            del self._told[row.id]  # the store has caught up
            return row
        return attrs.evolve(row, now=row.now if held.now is None else held.now, last_output_at=held.last_output_at)

    def _expire(self, at: float) -> None:
        while self._told:
            session_id, held = next(iter(self._told.items()))
            if at - held.at < self._hold:
                return
            del self._told[session_id]
