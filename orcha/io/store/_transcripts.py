"""Transcripts: appended in batches (many lines, one transaction), read a page at a time by seq cursor."""

from __future__ import annotations

from collections.abc import Sequence

from orcha.errors import InvalidInputError, NotFoundError
from orcha.io.store import _rows
from orcha.io.store._db import Database
from orcha.model import TranscriptEntry, TranscriptLine, TranscriptPage
from orcha.redact import Redactor

MAX_PAGE = 1000


class TranscriptsMixin:
    _db: Database
    _redactor: Redactor

    def append_transcript(self, lines: Sequence[TranscriptLine]) -> list[TranscriptEntry]:
        """Append ``lines`` (of any sessions) in one transaction; returns them with their assigned ``seq``.

        Each session's seq counts up from 1 with no gaps. Bodies are redacted before they are written. A line's
        ``pane_offset`` becomes its session's (the last one wins). This is the group commit: a caller that
        buffers lines and appends them together pays one commit for all.
        """
        if not lines:
            return []
        with self._db.write() as tx:
            next_seq: dict[str, int] = {}
            for session_id in dict.fromkeys(line.session_id for line in lines):
                current = tx.value("SELECT transcript_seq FROM sessions WHERE id = ?", (session_id,))
                if current is None:
                    raise NotFoundError("session", session_id)
                next_seq[session_id] = current
            entries = []
            for line in lines:
                next_seq[line.session_id] += 1
                entries.append(
                    TranscriptEntry(
                        session_id=line.session_id,
                        seq=next_seq[line.session_id],
                        kind=line.kind,
                        body=self._redactor.redact(line.body),
                        ts=line.ts if line.ts is not None else tx.now,
                    )
                )
            tx.executemany(
                "INSERT INTO transcript (session_id, seq, kind, body, ts) VALUES (?, ?, ?, ?, ?)",
                [(e.session_id, e.seq, e.kind, e.body, e.ts) for e in entries],
            )
            tx.executemany(
                "UPDATE sessions SET transcript_seq = ? WHERE id = ?",
                [(seq, session_id) for session_id, seq in next_seq.items()],
            )
            offsets = {line.session_id: line.pane_offset for line in lines if line.pane_offset is not None}
            tx.executemany(  # what a re-adopted tmux pane resumes from: committed with the lines it covers
                "UPDATE sessions SET pane_offset = ? WHERE id = ?",
                [(offset, session_id) for session_id, offset in offsets.items()],
            )
            return entries

    def read_transcript(self, session_id: str, *, after: int = 0, limit: int = 200) -> TranscriptPage:
        """Lines of ``session_id`` with ``seq > after``, in order, at most ``limit`` (1..1000) of them."""
        if after < 0:
            raise InvalidInputError("after must be >= 0", field="after")
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidInputError(f"limit must be between 1 and {MAX_PAGE}", field="limit")
        with self._db.read() as tx:
            if tx.value("SELECT 1 FROM sessions WHERE id = ?", (session_id,)) is None:
                raise NotFoundError("session", session_id)
            rows = tx.rows(
                "SELECT session_id, seq, kind, body, ts FROM transcript WHERE session_id = ? AND seq > ?"
                " ORDER BY seq LIMIT ?",
                (session_id, after, limit),
            )
        items = tuple(_rows.transcript_entry(r) for r in rows)
        return TranscriptPage(items=items, next_after=items[-1].seq if items else after)
