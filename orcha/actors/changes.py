"""The change feed: what changed (a kind and an id), for the SSE streams and the dashboard's websocket."""

from __future__ import annotations

import contextlib
import math
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence

import attrs
import trio

from orcha import oneline
from orcha.model import TranscriptEntry
from orcha.oneline import Now


@attrs.frozen(kw_only=True)
class Change:
    """Something changed: ``kind`` (objective, session, target, question, pr, transcript) and its id."""

    kind: str
    id: str


HELD_LINES = 10_000
"""Committed lines a watch holds for its holder; past that it drops them and the holder reads the store."""


class Watch:
    """Wakes its holder when something with its id changed: coalesced (many changes, one wake-up), never
    missed, never queued, so a watcher of one session costs nothing while the other sessions change.

    It also holds the session's lines committed since the holder last took them (:meth:`take_lines`), so a
    subscriber that keeps up is sent them from memory, without a read of the store."""

    def __init__(self, timer: WaitTimer | None = None) -> None:
        self._changed = False
        self._timer = timer
        self._waiting: trio.lowlevel.Task | None = None
        """The holder's task, parked in :meth:`wait` (``None``: not waiting)."""
        self._lines: list[TranscriptEntry] = []
        self._dropped = False
        self._other = False
        """Something other than new lines changed (e.g. the session's status) since :meth:`take_other`."""

    def poke(self, *, lines: Sequence[TranscriptEntry] = ()) -> None:
        if lines:
            if len(self._lines) + len(lines) > HELD_LINES:
                self._lines, self._dropped = [], True
            elif not self._dropped:
                self._lines.extend(lines)
        else:
            self._other = True
        self._changed = True
        self._wake(True)

    def take_lines(self, after: int) -> list[TranscriptEntry] | None:
        """The held lines that follow seq ``after`` with no gap (``[]``: none came), or ``None`` when the
        store must be read (lines were dropped, or they do not follow ``after``)."""
        lines, dropped, self._lines, self._dropped = self._lines, self._dropped, [], False
        lines = [line for line in lines if line.seq > after]
        if dropped or (lines and lines[0].seq != after + 1):
            return None
        return lines

    async def wait(self, within: float) -> bool:
        """Wait until something changed since the last wait (at most ``within`` seconds); ``False`` if not.

        The timeout is the feed's :class:`WaitTimer` when it runs (no cancel scope a wait: a stream's lines each
        end one), else a cancel scope of the wait's own."""
        if not self._changed:
            if self._timer is not None and self._timer.running:
                self._timer.add(self, trio.current_time() + within)
                await self._park()
            else:
                with trio.move_on_after(within):
                    await self._park()
        changed, self._changed = self._changed, False
        return changed

    async def _park(self) -> None:
        self._waiting = trio.lowlevel.current_task()

        def abort(_raise_cancel: object) -> trio.lowlevel.Abort:
            self._waiting = None
            if self._timer is not None:
                self._timer.discard(self)
            return trio.lowlevel.Abort.SUCCEEDED

        await trio.lowlevel.wait_task_rescheduled(abort)

    def _wake(self, changed: bool) -> None:
        """Reschedule the parked holder (a poke, or its time is up)."""
        task, self._waiting = self._waiting, None
        if task is not None:
            if changed and self._timer is not None:
                self._timer.discard(self)
            trio.lowlevel.reschedule(task)

    def take_other(self) -> bool:
        """Whether something other than new lines changed since the last call."""
        other, self._other = self._other, False
        return other


class WaitTimer:
    """Times out the :meth:`Watch.wait` calls of a feed's watches, while :meth:`run` runs: one task that sleeps
    until the earliest parked wait's time is up, instead of a cancel scope entered and left at every wait.

    A wait that a poke ends costs a dict entry; the timer wakes about once per wait's length (the waits parked
    then each have a later time: their lines came meanwhile), looking at the waits parked at that moment."""

    def __init__(self) -> None:
        self._parked: dict[Watch, float] = {}
        self._scope: trio.CancelScope | None = None
        self.running = False

    def add(self, watch: Watch, deadline: float) -> None:
        self._parked[watch] = deadline
        if self._scope is not None and deadline < self._scope.deadline:
            self._scope.deadline = deadline

    def discard(self, watch: Watch) -> None:
        self._parked.pop(watch, None)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Time out the parked waits until cancelled; then every wait still parked ends (as if timed out)."""
        self.running = True
        try:
            task_status.started()
            while True:
                with trio.CancelScope(deadline=min(self._parked.values(), default=math.inf)) as scope:
                    self._scope = scope
                    await trio.sleep_forever()
                self._scope = None
                now = trio.current_time()
                for watch, deadline in list(self._parked.items()):
                    if deadline <= now:
                        del self._parked[watch]
                        watch._wake(False)
        finally:
            self.running, self._scope = False, None
            parked, self._parked = self._parked, {}
            for watch in parked:
                watch._wake(False)


ACTIVITY = Change(kind="transcript", id="")
"""What an activity subscriber receives when sessions it had not been told of yet committed lines."""


Printed = tuple[TranscriptEntry | None, float]
"""A session's newest line that may say what it is doing (``None``: none did) and its newest line's time."""


def printed(entries: Sequence[TranscriptEntry]) -> dict[str, Printed]:
    """For each session of a committed batch: its :data:`Printed`, in one pass without summarising a line."""
    said: dict[str, TranscriptEntry | None] = {}
    newest: dict[str, float] = {}
    for entry in entries:
        newest[entry.session_id] = entry.ts
        if oneline.says_now(entry.kind, failed=entry.failed):
            said[entry.session_id] = entry
    return {sid: (said.get(sid), ts) for sid, ts in newest.items()}


class Activity:
    """The sessions that committed transcript lines since the holder last took them, each with its newest line
    that may say what it is doing (summarised when taken: once a take, not once a commit): a map, not a queue,
    so a thousand printing sessions cost one wake-up of the holder, not one message per commit."""

    def __init__(self) -> None:
        self._sessions: dict[str, Printed | None] = {}

    def add(self, session_ids: Iterable[str], lines: Mapping[str, Printed] | None = None) -> bool:
        """Add (newer lines replace the held ones; a batch with no line that may say anything keeps the held
        one); ``True`` when the map was empty before (the holder is to be woken)."""
        was_empty = not self._sessions
        for session_id in session_ids:
            held = self._sessions.get(session_id)
            new = lines.get(session_id) if lines is not None else None
            if new is not None and new[0] is None and held is not None:
                new = (held[0], new[1])
            self._sessions[session_id] = new if new is not None else held
        return was_empty and bool(self._sessions)

    def take(self) -> list[str]:
        sessions, self._sessions = list(self._sessions), {}
        return sessions

    def take_now(self) -> dict[str, Now | None]:
        """The sessions, in the order they first printed, with what each is doing now (``None``: not known,
        for lines committed outside the writer)."""
        sessions, self._sessions = self._sessions, {}
        return {
            sid: None
            if held is None
            else Now(
                now=None
                if held[0] is None
                else oneline.describe(held[0].kind, held[0].body, failed=held[0].failed, tool=held[0].tool),
                last_output_at=held[1],
            )
            for sid, held in sessions.items()
        }


class ChangeFeed:
    """Announce changes to every subscriber (a slow subscriber misses changes and never blocks the sender) and
    to the watches of the changed id. Committed transcript lines go to the watches of their sessions
    (:meth:`publish_lines`) and, as a set of sessions, to the subscribers that asked for activity."""

    def __init__(self) -> None:
        self._listeners: dict[trio.MemorySendChannel[Change], Activity | None] = {}
        self._watches: dict[str, set[Watch]] = {}
        self.timer = WaitTimer()
        """Times out the watches' waits while it runs (:meth:`WaitTimer.run`, in the orchestrator's tree)."""

    def announce(self, kind: str, ident: str) -> None:
        if kind == "transcript":  # lines committed outside the writer: watches read them from the store
            for watch in self._watches.get(ident, ()):
                watch.poke()
            self.lines_committed((ident,))
            return
        for watch in self._watches.get(ident, ()):
            watch.poke()
        change = Change(kind=kind, id=ident)
        for listener in list(self._listeners):
            self._send(listener, change)

    def lines_committed(self, session_ids: Sequence[str]) -> None:
        """These sessions committed lines: their ids to the activity subscribers (one wake-up each)."""
        for listener, activity in list(self._listeners.items()):
            if activity is not None and activity.add(session_ids):
                self._send(listener, ACTIVITY)

    def _send(self, listener: trio.MemorySendChannel[Change], change: Change) -> None:
        try:
            listener.send_nowait(change)
        except trio.WouldBlock:
            pass
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self._listeners.pop(listener, None)

    def publish_lines(self, entries: Sequence[TranscriptEntry]) -> None:
        """Lines just committed: to the watches of their sessions, and what each session is doing now to the
        activity subscribers, from memory."""
        listening = [(listener, activity) for listener, activity in self._listeners.items() if activity is not None]
        if listening:
            said = printed(entries)
            for listener, activity in listening:
                if activity.add(said, said):
                    self._send(listener, ACTIVITY)
        by_session: dict[str, list[TranscriptEntry]] = {}
        for entry in entries:
            if entry.session_id in self._watches:
                by_session.setdefault(entry.session_id, []).append(entry)
        for session_id, lines in by_session.items():
            for watch in self._watches.get(session_id, ()):
                watch.poke(lines=lines)

    @contextlib.contextmanager
    def watch(self, ident: str) -> Iterator[Watch]:
        """A :class:`Watch` of the changes to ``ident`` (of any kind), until the block exits."""
        watch = Watch(self.timer)
        self._watches.setdefault(ident, set()).add(watch)
        try:
            yield watch
        finally:
            watchers = self._watches.get(ident)
            if watchers is not None:
                watchers.discard(watch)
                if not watchers:
                    del self._watches[ident]

    @contextlib.asynccontextmanager
    async def subscribe(self, buffer: int = 1000) -> AsyncIterator[trio.MemoryReceiveChannel[Change]]:
        """The changes announced from now on (rows, not transcript lines), until the block exits."""
        async with self._subscription(buffer, None) as receive:
            yield receive

    @contextlib.asynccontextmanager
    async def subscribe_with_activity(
        self, buffer: int = 1000
    ) -> AsyncIterator[tuple[trio.MemoryReceiveChannel[Change], Activity]]:
        """As :meth:`subscribe`, and :data:`ACTIVITY` when sessions that had not been taken from the
        :class:`Activity` committed lines."""
        activity = Activity()
        async with self._subscription(buffer, activity) as receive:
            yield receive, activity

    @contextlib.asynccontextmanager
    async def _subscription(
        self, buffer: int, activity: Activity | None
    ) -> AsyncIterator[trio.MemoryReceiveChannel[Change]]:
        send, receive = trio.open_memory_channel[Change](buffer)
        self._listeners[send] = activity
        try:
            yield receive
        finally:
            self._listeners.pop(send, None)
            send.close()
