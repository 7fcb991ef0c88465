"""A session's transcript buffer: lines are group-committed, never one transaction per line."""

from __future__ import annotations

from collections.abc import Callable

import trio

from orcha.model import TranscriptKind, TranscriptLine
from orcha.ports import Db

FLUSH_SECONDS = 0.25


class TranscriptBuffer:
    """Collects lines; :meth:`flush` writes them in one transaction (also every 0.25 s while :meth:`run`),
    then calls ``on_flush``."""

    def __init__(
        self, db: Db, session_id: str, *, clock: Callable[[], float], on_flush: Callable[[], None] = lambda: None
    ) -> None:
        self._db = db
        self._session_id = session_id
        self._clock = clock
        self._on_flush = on_flush
        self._lines: list[TranscriptLine] = []

    def emit(self, kind: TranscriptKind, body: str, *, pane_offset: int | None = None) -> None:
        """Buffer a line; ``pane_offset`` (a tmux pane's log read up to here) is committed with it."""
        self._lines.append(
            TranscriptLine(session_id=self._session_id, kind=kind, body=body, ts=self._clock(), pane_offset=pane_offset)
        )

    async def flush(self) -> None:
        if self._lines:
            lines, self._lines = self._lines, []
            await self._db.run(lambda s: s.append_transcript(lines))
            self._on_flush()

    async def run(self) -> None:
        while True:
            await trio.sleep(FLUSH_SECONDS)
            await self.flush()
