"""Transcripts are group-committed without a timer: one writer takes every line that is waiting, from every
session, commits them in one transaction, tells who appended, and goes again at once.

A line's latency is one commit (plus the wait for the commit in flight), never a flush interval, and the
lines of many sessions share one transaction, so the cost per line falls as the load grows. A line is
announced only after its commit, so a subscriber never reads a line that is not stored.

Each session's stored summary (what it is doing now) is written with its lines at most once a second
(:class:`~orcha.summary_schedule.SummarySchedule`); a session that went quiet with one unwritten is caught up
within two seconds, by a commit of summaries alone if no lines come, and stopping writes every one left. The
dashboard's websocket hears every commit's summaries from the change feed, unthrottled.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import trio

from orcha.actors.deps import TranscriptSink
from orcha.model import TranscriptEntry, TranscriptKind, TranscriptLine, Usage, UsageUpdate
from orcha.ports import Db
from orcha.summary_schedule import SummarySchedule

log = logging.getLogger(__name__)

MAX_WAITING = 4096
"""Lines that may wait for the writer; past that, agents' pumps wait for the commit (:meth:`TranscriptWriter.room`),
so an agent printing faster than orcha commits is slowed down as its pipe would slow it, and memory holds
a bounded buffer, never a transcript."""


LONG_COMMIT = 256
"""A commit of more lines or summaries than this may take long (milliseconds): it is kept off the event loop
(``Db.run(long=True)``), and the store calls made meanwhile wait behind it."""


class TranscriptWriter:
    """The transcript writer, a :class:`~orcha.actors.deps.TranscriptSink` (see the module's docstring).

    :meth:`run` is its task; while it is not running (not started yet, or orcha is stopping), :meth:`flush`
    commits what is waiting itself."""

    def __init__(
        self,
        db: Db,
        on_committed: Callable[[Sequence[str]], None] = lambda _session_ids: None,
        *,
        on_lines: Callable[[Sequence[TranscriptEntry]], None] = lambda _entries: None,
        on_usage: Callable[[Sequence[str]], None] = lambda _session_ids: None,
    ) -> None:
        self._db = db
        self._on_committed = on_committed
        self._on_lines = on_lines
        self._on_usage = on_usage
        self._pending: list[TranscriptLine] = []
        self._usage: list[UsageUpdate] = []
        self._emitted = 0
        self._committed = 0
        self._wake = trio.Event()
        self._progress = trio.Event()
        self._running = False
        self._committing = False
        self._summaries = SummarySchedule()
        """When each session's summary (what it is doing now) is stored: at most once a second, trio time."""

    def emit(self, line: TranscriptLine) -> None:
        self._pending.append(line)
        self._emitted += 1
        self._wake.set()

    def add_usage(self, update: UsageUpdate) -> None:
        self._usage.append(update)
        self._emitted += 1
        self._wake.set()

    async def flush(self) -> None:
        target = self._emitted
        while self._committed < target:
            if not self._running and not self._committing:
                await self._commit_waiting()
                continue
            progress = self._progress
            await progress.wait()

    async def room(self) -> None:
        if self.full():
            await self.flush()

    def full(self) -> bool:
        return len(self._pending) >= MAX_WAITING

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        self._running = True
        task_status.started()
        try:
            while True:
                with trio.move_on_at(self._summaries.deadline()):  # a quiet session's summary, caught up
                    await self._wake.wait()
                await self._commit_waiting()
        finally:
            self._running = False
            self._announce_progress()  # flush callers waiting on us commit for themselves now
            await self._write_stale_summaries()

    async def _write_stale_summaries(self) -> None:
        """Orcha is stopping: the summaries still waiting are written, so a restart shows them."""
        stale = self._summaries.take_stale()
        if not stale:
            return
        with trio.CancelScope(shield=True):
            try:
                await self._db.run(lambda s: s.append_transcript([], summarize=stale), long=len(stale) > LONG_COMMIT)
            except Exception:
                log.exception("cannot write the summaries of %d sessions", len(stale))

    async def _commit_waiting(self) -> None:
        self._wake = trio.Event()
        lines, self._pending, upto = self._pending, [], self._emitted
        usage, self._usage = self._usage, []
        entries: list[TranscriptEntry] = []
        sessions = list(dict.fromkeys(line.session_id for line in lines))
        now = trio.current_time()
        # a writer that is not running has no task to catch a stale summary up later: each commit writes its own
        due = self._summaries.due(sessions, now) if self._running else sessions
        if lines or due or usage:
            self._committing = True
            try:
                with trio.CancelScope(shield=True):  # taken from the queue: it is committed, whatever happens
                    entries = await self._append(lines, due, usage)
            finally:
                self._committing = False
            self._summaries.written(due, sessions, now)
        self._committed = max(self._committed, upto)
        self._announce_progress()
        if entries:
            self._on_lines(entries)
        if lines:
            self._on_committed(list(dict.fromkeys(line.session_id for line in lines)))
        if usage:
            self._on_usage(list(dict.fromkeys(update.session_id for update in usage)))

    async def _append(
        self, lines: list[TranscriptLine], due: list[str], usage: list[UsageUpdate]
    ) -> list[TranscriptEntry]:
        size = len(lines) + len(due) + len(usage)
        try:
            return await self._db.run(
                lambda s: s.append_transcript(lines, summarize=due, usage=usage), long=size > LONG_COMMIT
            )
        except Exception:
            sessions = {line.session_id for line in lines} | set(due) | {u.session_id for u in usage}
            if len(sessions) <= 1:
                log.exception("cannot append %d transcript lines of session %s", len(lines), next(iter(sessions), ""))
                return []
        entries: list[TranscriptEntry] = []
        order = [*(line.session_id for line in lines), *due, *(u.session_id for u in usage)]
        for session_id in dict.fromkeys(order):  # one bad session loses only its own
            mine = [line for line in lines if line.session_id == session_id]
            its_usage = [u for u in usage if u.session_id == session_id]
            entries.extend(
                await self._append_alone(session_id, mine, [session_id] if session_id in due else [], its_usage)
            )
        return entries

    async def _append_alone(
        self, session_id: str, lines: list[TranscriptLine], due: list[str], usage: list[UsageUpdate]
    ) -> list[TranscriptEntry]:
        size = len(lines) + len(due) + len(usage)
        try:
            return await self._db.run(
                lambda s: s.append_transcript(lines, summarize=due, usage=usage), long=size > LONG_COMMIT
            )
        except Exception:
            log.exception("cannot append %d transcript lines of session %s", len(lines), session_id)
            return []

    def _announce_progress(self) -> None:
        progress, self._progress = self._progress, trio.Event()
        progress.set()


class TranscriptBuffer:
    """One session's side of the writer: its lines, stamped with the session's id and the clock."""

    def __init__(self, sink: TranscriptSink, session_id: str, *, clock: Callable[[], float]) -> None:
        self._sink = sink
        self._session_id = session_id
        self._clock = clock
        self._emitted = 0
        self._flushed = 0
        """Lines of this session emitted, and known committed (a flush with none new waits for no commit)."""

    def emit(
        self,
        kind: TranscriptKind,
        body: str,
        *,
        pane_offset: int | None = None,
        failed: bool = False,
        tool: str | None = None,
    ) -> None:
        """Queue a line; ``pane_offset`` (a tmux pane's log read up to here) is committed with it. A tool
        result's ``failed`` is stored with it, and its call's ``tool`` names it in the session's summary."""
        self._sink.emit(
            TranscriptLine(
                session_id=self._session_id,
                kind=kind,
                body=body,
                ts=self._clock(),
                pane_offset=pane_offset,
                failed=failed,
                tool=tool,
            )
        )
        self._emitted += 1

    def add_usage(self, delta: Usage, *, cost_total_usd: float | None = None) -> None:
        """Queue usage for this session's counters: committed with its lines, and waited for by a flush."""
        self._sink.add_usage(UsageUpdate(session_id=self._session_id, delta=delta, cost_total_usd=cost_total_usd))
        self._emitted += 1

    async def flush(self) -> None:
        """Wait until this session's lines are committed (at once when none was emitted since the last flush)."""
        target = self._emitted
        if self._flushed >= target:
            return
        await self._sink.flush()
        self._flushed = max(self._flushed, target)

    async def room(self) -> None:
        await self._sink.room()

    def full(self) -> bool:
        """Whether :meth:`room` would wait (checked first, once a line: no coroutine while there is room)."""
        return self._sink.full()
