"""Transcripts: appended in batches (many lines, one transaction), read a page at a time by seq cursor.

A line is stored under one integer key, its session's number (``sessions.num``) times 2**32 plus its seq, in a
rowid table: no second copy of the session id per line and no index beside the table, and a long line fills
whole overflow pages (a WITHOUT ROWID table leaves most of an overflow page empty for lines of 1 to 4 KB). A
session's page is a range scan of the key.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from orcha import oneline
from orcha.errors import InvalidInputError, NotFoundError
from orcha.io.store import _rows
from orcha.io.store._db import Database, Tx
from orcha.io.store._sessions import add_usage
from orcha.model import TranscriptEntry, TranscriptKind, TranscriptLine, TranscriptPage, UsageUpdate
from orcha.redact import Redactor

MAX_PAGE = 1000
SEQ_SPAN = _rows.SEQ_SPAN
"""Seqs of one session fit under its number: a session holds at most 2**32 - 1 lines."""
KINDS: tuple[TranscriptKind, ...] = (
    TranscriptKind.USER,
    TranscriptKind.TEXT,
    TranscriptKind.TOOL_CALL,
    TranscriptKind.TOOL_RESULT,
    TranscriptKind.ERROR,
    TranscriptKind.USAGE,
    TranscriptKind.QUESTION,
    TranscriptKind.SYSTEM,
    TranscriptKind.SCREEN,
)
"""The stored code of each kind is its place here (the migration that made the table uses the same codes):
append new kinds, never reorder."""
_CODES = {kind: code for code, kind in enumerate(KINDS)}
FAILED_RESULT = 9
"""The code of a failed tool result (a tool result whose ``failed`` is set): after every kind's code."""


def _code(kind: TranscriptKind, failed: bool) -> int:
    return FAILED_RESULT if failed and kind is TranscriptKind.TOOL_RESULT else _CODES[kind]


def _kind(code: int) -> tuple[TranscriptKind, bool]:
    return (TranscriptKind.TOOL_RESULT, True) if code == FAILED_RESULT else (KINDS[code], False)


_NOW_SQL = """
    INSERT INTO session_now (session_id, now, last_output_at) VALUES (?, ?, ?)
    ON CONFLICT (session_id) DO UPDATE SET now = COALESCE(excluded.now, now), last_output_at = excluded.last_output_at
"""


def _nows(
    tx: Tx, entries: list[TranscriptEntry], summarize: Collection[str] | None, tails: dict[str, tuple[int, int]]
) -> dict[str, oneline.Now]:
    """What the sessions to summarize are doing now: from the batch; with ``summarize``, a session the batch
    says nothing of is read from its newest stored lines (its summary may be older than them; ``tails``: the
    key bases known)."""
    if summarize is None:
        return oneline.latest(entries)  # every session's summary is current: one that says nothing keeps it
    wanted = set(summarize)
    nows = oneline.latest([e for e in entries if e.session_id in wanted])
    for session_id in wanted:
        now = nows.get(session_id)
        if now is None or now.now is None:
            tail = tails.get(session_id)
            stored = _stored_now(tx, session_id, None if tail is None else tail[0])
            if stored is not None:
                nows[session_id] = stored
    return nows


def _stored_now(tx: Tx, session_id: str, base: int | None) -> oneline.Now | None:
    """What a session's newest stored lines say (a few first, up to :data:`~orcha.oneline.SCAN_LINES`);
    ``base``: its key base, when known (else read)."""
    if base is None:
        num = tx.value("SELECT num FROM sessions WHERE id = ?", (session_id,))
        if num is None:
            return None
        base = num * SEQ_SPAN
    found: oneline.Now | None = None
    for limit in (8, oneline.SCAN_LINES):
        rows = tx.rows(
            "SELECT key, kind, substr(body, 1, ?) AS body, ts FROM transcript_lines WHERE key > ? AND key < ?"
            " ORDER BY key DESC LIMIT ?",
            (_STORED_BODY_CHARS, base, base + SEQ_SPAN, limit),
        )
        if not rows:
            return None
        newest_first = [
            TranscriptEntry(
                session_id=session_id, seq=r["key"] - base, kind=kind, body=r["body"], ts=r["ts"], failed=failed
            )
            for r in rows
            for kind, failed in (_kind(r["kind"]),)
        ]
        found = oneline.latest(newest_first[::-1])[session_id]
        if found.now is not None or len(rows) < limit:
            return found
    return found


def _stored_tail(tx: Tx, session_id: str) -> tuple[int, int]:
    """A session's key base and its last stored seq (0: none), read from the database."""
    num = tx.value("SELECT num FROM sessions WHERE id = ?", (session_id,))
    if num is None:
        raise NotFoundError("session", session_id)
    base = num * SEQ_SPAN
    last = tx.value(
        "SELECT key FROM transcript_lines WHERE key > ? AND key < ? ORDER BY key DESC LIMIT 1", (base, base + SEQ_SPAN)
    )
    return base, 0 if last is None else last - base


MAX_TAILS = 10_000
"""Sessions whose tails a store remembers; past that it forgets them all and reads each again once."""

_STORED_BODY_CHARS = 8192
"""How much of a stored line a summary reads back (a tool call's tool and key argument come first)."""


class TranscriptsMixin:
    _db: Database
    _redactor: Redactor
    _tails: dict[str, tuple[int, int]]
    """Each session's key base and last committed seq (:meth:`_committed_tails`)."""
    _tails_version: tuple[int, int] | None

    def append_transcript(
        self,
        lines: Sequence[TranscriptLine],
        *,
        summarize: Collection[str] | None = None,
        usage: Sequence[UsageUpdate] = (),
    ) -> list[TranscriptEntry]:
        """Append ``lines`` (of any sessions) in one transaction; returns them with their assigned ``seq``.

        Each session's seq counts up from 1 with no gaps. Bodies are redacted before they are written. A line's
        ``pane_offset`` becomes its session's (the last one wins). This is the group commit: a caller that
        buffers lines and appends them together pays one commit for all.

        What each session is doing now (``session_now``: one row a session, whatever the batch's length) is
        written in the same transaction: its newest meaningful line's summary and its newest line's time. By
        default for every session of the batch; with ``summarize``, for those sessions only (with or without
        lines in the batch: a caller that writes summaries less often than lines names the sessions due), each
        from the batch or, when the batch says nothing, from its newest stored lines.

        ``usage`` is added to the sessions' counters in the same transaction (as ``add_session_usage`` adds it):
        an agent's usage reports are committed with its lines, not one write each.
        """
        if not lines and not summarize and not usage:
            return []
        with self._db.write() as tx:
            if usage:
                add_usage(tx, usage)
            tails = self._committed_tails(tx)
            base: dict[str, int] = {}
            next_seq: dict[str, int] = {}
            for session_id in dict.fromkeys(line.session_id for line in lines):
                base[session_id], next_seq[session_id] = tails.get(session_id) or _stored_tail(tx, session_id)
            bodies = self._redactor.redact_many([line.body for line in lines])
            now = tx.now
            entries = []
            rows = []
            tool_result = TranscriptKind.TOOL_RESULT
            for line, body in zip(lines, bodies, strict=True):
                session_id = line.session_id
                seq = next_seq[session_id] = next_seq[session_id] + 1
                kind = line.kind
                failed = line.failed and kind is tool_result
                ts = line.ts if line.ts is not None else now
                entries.append(
                    TranscriptEntry(
                        session_id=session_id, seq=seq, kind=kind, body=body, ts=ts, failed=failed, tool=line.tool
                    )
                )
                rows.append((base[session_id] + seq, FAILED_RESULT if failed else _CODES[kind], body, ts))
            if any(seq >= SEQ_SPAN for seq in next_seq.values()):
                raise InvalidInputError(f"a session holds at most {SEQ_SPAN - 1} transcript lines", field="lines")
            tx.executemany("INSERT INTO transcript_lines (key, kind, body, ts) VALUES (?, ?, ?, ?)", rows)
            tx.executemany(  # what each session is doing now: its newest meaningful line, with the lines
                _NOW_SQL, [(sid, n.now, n.last_output_at) for sid, n in _nows(tx, entries, summarize, tails).items()]
            )
            offsets = {line.session_id: line.pane_offset for line in lines if line.pane_offset is not None}
            tx.executemany(  # what a re-adopted tmux pane resumes from: committed with the lines it covers
                "UPDATE sessions SET pane_offset = ? WHERE id = ?",
                [(offset, session_id) for session_id, offset in offsets.items()],
            )
        # committed: the tails move only now (a transaction rolled back leaves them where the database has them)
        if len(tails) + len(next_seq) > MAX_TAILS:
            tails.clear()
        for session_id, seq in next_seq.items():
            tails[session_id] = (base[session_id], seq)
        return entries

    def _transcript_started(self, session_id: str, num: int) -> None:
        """A session this store just created (committed, or in a group whose loss forgets every tail) has an
        empty transcript under key base ``num * SEQ_SPAN``: its first append need not read them."""
        if len(self._tails) < MAX_TAILS:
            self._tails[session_id] = (num * SEQ_SPAN, 0)

    def _committed_tails(self, tx: Tx) -> dict[str, tuple[int, int]]:
        """Each session's key base and last committed seq, as this store committed them: the store appends
        every line (orcha holds the database's lock), so they are known without a read. Forgotten whenever
        another connection committed to the database since (``PRAGMA data_version``): a second writer (a test,
        a repair) is read, never guessed past; and whenever a group of calls was rolled back after their writes
        (``Database.lost_groups``: a tail noted by one of them is not in the database). Called inside the write
        transaction, which holds the write lock."""
        version = (tx.value("PRAGMA data_version"), self._db.lost_groups)  # (or a group of calls was lost)
        if version != self._tails_version:
            self._tails, self._tails_version = {}, version
        return self._tails

    def read_transcript(self, session_id: str, *, after: int = 0, limit: int = 200) -> TranscriptPage:
        """Lines of ``session_id`` with ``seq > after``, in order, at most ``limit`` (1..1000) of them."""
        if after < 0:
            raise InvalidInputError("after must be >= 0", field="after")
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidInputError(f"limit must be between 1 and {MAX_PAGE}", field="limit")
        with self._db.read() as tx:
            num = tx.value("SELECT num FROM sessions WHERE id = ?", (session_id,))
            if num is None:
                raise NotFoundError("session", session_id)
            base = num * SEQ_SPAN
            rows = tx.rows(
                "SELECT key, kind, body, ts FROM transcript_lines WHERE key > ? AND key < ? ORDER BY key LIMIT ?",
                (base + min(after, SEQ_SPAN - 1), base + SEQ_SPAN, limit),
            )
        items = tuple(
            TranscriptEntry(
                session_id=session_id, seq=r["key"] - base, kind=kind, body=r["body"], ts=r["ts"], failed=failed
            )
            for r in rows
            for kind, failed in (_kind(r["kind"]),)
        )
        return TranscriptPage(items=items, next_after=items[-1].seq if items else after)
