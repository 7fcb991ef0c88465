"""A session's transcript buffer: lines are group-committed, never one transaction per line."""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from orcha.model import TranscriptKind, TranscriptLine

if TYPE_CHECKING:
    from orcha.actors.orchestrator import Orchestrator

FLUSH_SECONDS = 0.25


class TranscriptBuffer:
    """Collects lines; :meth:`flush` writes them in one transaction (also every 0.25 s while :meth:`run`)."""

    def __init__(self, orchestrator: Orchestrator, session_id: str) -> None:
        self._orch = orchestrator
        self._session_id = session_id
        self._lines: list[TranscriptLine] = []

    def emit(self, kind: TranscriptKind, body: str) -> None:
        self._lines.append(TranscriptLine(session_id=self._session_id, kind=kind, body=body, ts=self._orch.clock()))

    async def flush(self) -> None:
        if self._lines:
            lines, self._lines = self._lines, []
            await self._orch.db.run(lambda s: s.append_transcript(lines))
            self._orch.transcript_appended(self._session_id)

    async def run(self) -> None:
        while True:
            await trio.sleep(FLUSH_SECONDS)
            await self.flush()
