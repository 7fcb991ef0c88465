"""hypercorn's connection with one change: its bytes go straight to the socket when nothing stands in the way.

Every byte hypercorn writes on a connection goes through ``TCPServer.protocol_send``: a lock, a shielded cancel
scope and trio's ``send_all`` (a conflict check, a cancel check and a full turn of the scheduler). For an SSE
stream that is every line, and on a slow host those trio steps cost ~100 µs of the trio thread a write: with
one reader per session they were most of figure 3's load (``docs/performance.md``, the twelfth round).

:class:`DirectSendServer` writes the bytes with one non-blocking ``write`` when no other write of the connection
is under way (its lock is free, so nothing is queued before them and the order holds). Whatever the kernel does
not take at once (a full socket buffer), a connection the peer closed, a TLS stream and every event that is not
bytes go hypercorn's own way, which waits for the socket, keeps the order and reports a closed peer as before.
When a connection's writes come back to back (each within :data:`BACK_TO_BACK_SECONDS` of the one before), every
:data:`YIELD_EVERY`-th goes that way too, so a response whose body never waits still lets the other tasks run.

:func:`install` puts it in place of hypercorn's ``TCPServer`` for the servers started after it; hypercorn has no
parameter for the connection class. It checks first that hypercorn is the one this was written against (the
class and the attributes it uses), and leaves hypercorn as it is otherwise.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import trio
from hypercorn.events import Event, RawData
from hypercorn.trio import run as hypercorn_run
from hypercorn.trio.tcp_server import TCPServer

log = logging.getLogger(__name__)

YIELD_EVERY = 16
"""Of a connection's writes back to back, one in this many goes through trio's ``send_all`` (a turn of the
scheduler)."""
BACK_TO_BACK_SECONDS = 0.001
"""Writes this close together count as back to back (a stream's lines as they come are further apart)."""


class DirectSendServer(TCPServer):
    """hypercorn's ``TCPServer`` whose :meth:`protocol_send` writes bytes to the socket directly when it can."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._direct_run = 0
        """Writes made directly back to back since the connection's last write through ``send_all``."""
        self._last_direct = -1.0
        self.direct_writes = 0
        self.queued_writes = 0

    async def protocol_send(self, event: Event) -> None:
        if isinstance(event, RawData) and event.data:
            rest = self._write_now(event.data)
            if rest is None:
                return
            event = RawData(data=rest)
            self.queued_writes += 1
            self._direct_run = 0
        await super().protocol_send(event)

    def _write_now(self, data: bytes) -> bytes | None:
        """Write what the socket takes at once; return what is left for hypercorn's way (None: all written)."""
        now = time.monotonic()
        if now - self._last_direct > BACK_TO_BACK_SECONDS:
            self._direct_run = 0
        if self.send_lock.locked() or self._direct_run >= YIELD_EVERY or not isinstance(self.stream, trio.SocketStream):
            return data
        try:
            written = os.write(self.stream.socket.fileno(), data)
        except (BlockingIOError, InterruptedError):
            return data
        except OSError:  # closed or reset: send_all raises what hypercorn expects, and it closes the connection
            return data
        if written == len(data):
            self.direct_writes += 1
            self._direct_run += 1
            self._last_direct = now
            return None
        return data[written:]


def install() -> bool:
    """Make hypercorn's trio worker serve its connections with :class:`DirectSendServer`; True if it does."""
    if hypercorn_run.TCPServer is DirectSendServer:
        return True
    stock = getattr(hypercorn_run, "TCPServer", None)
    if stock is not TCPServer or not _as_expected():
        log.warning("hypercorn's connection is not the one orcha knows: its writes go the stock way (slower)")
        return False
    hypercorn_run.TCPServer = DirectSendServer  # type: ignore[misc]
    return True


def _as_expected() -> bool:
    """hypercorn's connection has what :class:`DirectSendServer` relies on: its ``protocol_send(event)`` and its
    ``send_lock`` and ``stream`` (set in ``__init__``: checked on the source, not on an instance)."""
    init = getattr(TCPServer.__init__, "__code__", None)
    send = getattr(TCPServer.protocol_send, "__code__", None)
    if init is None or send is None:
        return False
    return {"send_lock", "stream"} <= set(init.co_names) and send.co_varnames[:2] == ("self", "event")
