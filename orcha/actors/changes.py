"""The change feed: what changed (a kind and an id), for the SSE streams and the dashboard's websocket."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator

import attrs
import trio


@attrs.frozen(kw_only=True)
class Change:
    """Something changed: ``kind`` (objective, session, target, question, pr, transcript) and its id."""

    kind: str
    id: str


class Watch:
    """Wakes its holder when something with its id changed: coalesced (many changes, one wake-up), never
    missed, never queued, so a watcher of one session costs nothing while the other sessions change."""

    def __init__(self) -> None:
        self._changed = False
        self._event = trio.Event()

    def poke(self) -> None:
        self._changed = True
        self._event.set()

    async def wait(self, within: float) -> bool:
        """Wait until something changed since the last wait (at most ``within`` seconds); ``False`` if not."""
        if not self._changed:
            with trio.move_on_after(within):
                await self._event.wait()
        changed, self._changed = self._changed, False
        self._event = trio.Event()
        return changed


class ChangeFeed:
    """Announce changes to every subscriber (a slow subscriber misses changes and never blocks the sender) and
    to the watches of the changed id."""

    def __init__(self) -> None:
        self._listeners: set[trio.MemorySendChannel[Change]] = set()
        self._watches: dict[str, set[Watch]] = {}

    def announce(self, kind: str, ident: str) -> None:
        for watch in self._watches.get(ident, ()):
            watch.poke()
        change = Change(kind=kind, id=ident)
        for listener in list(self._listeners):
            try:
                listener.send_nowait(change)
            except trio.WouldBlock:
                pass
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                self._listeners.discard(listener)

    @contextlib.contextmanager
    def watch(self, ident: str) -> Iterator[Watch]:
        """A :class:`Watch` of the changes to ``ident`` (of any kind), until the block exits."""
        watch = Watch()
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
        """The changes announced from now on, until the block exits."""
        send, receive = trio.open_memory_channel[Change](buffer)
        self._listeners.add(send)
        try:
            yield receive
        finally:
            self._listeners.discard(send)
            send.close()
