"""The change feed: what changed (a kind and an id), for the SSE streams and the dashboard's websocket."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import attrs
import trio


@attrs.frozen(kw_only=True)
class Change:
    """Something changed: ``kind`` (objective, session, target, question, pr, transcript) and its id."""

    kind: str
    id: str


class ChangeFeed:
    """Announce changes to every subscriber; a slow subscriber misses changes and never blocks the sender."""

    def __init__(self) -> None:
        self._listeners: set[trio.MemorySendChannel[Change]] = set()

    def announce(self, kind: str, ident: str) -> None:
        change = Change(kind=kind, id=ident)
        for listener in list(self._listeners):
            try:
                listener.send_nowait(change)
            except trio.WouldBlock:
                pass
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                self._listeners.discard(listener)

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
