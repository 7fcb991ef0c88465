"""Server-sent events for the command line: a pure parser, and a follower that reconnects where it left off."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import attrs
import httpx
import trio

from orcha.cli._client import Client, ClientError

RECONNECT_SECONDS = (0.2, 0.5, 1.0, 2.0)
"""Waits before each new attempt after a dropped connection (the last one repeats)."""


@attrs.frozen(kw_only=True)
class SseEvent:
    event: str
    data: Any
    id: str | None = None


@attrs.define
class SseParser:
    """Lines in, events out (the WHATWG rules that orcha's streams use: ``id``, ``event``, ``data``, comments)."""

    _event: str = ""
    _data: list[str] = attrs.field(factory=list)
    _id: str | None = None

    def feed(self, line: str) -> SseEvent | None:
        """One line without its end; an event when ``line`` is the blank line that ends one."""
        if not line:
            if not self._data:
                self._event, self._id = "", None
                return None
            raw = "\n".join(self._data)
            try:
                data: Any = json.loads(raw)
            except ValueError:
                data = raw
            event = SseEvent(event=self._event or "message", data=data, id=self._id)
            self._event, self._data, self._id = "", [], None
            return event
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id" and "\x00" not in value:
            self._id = value
        return None


Handler = Callable[[SseEvent], bool]
"""Takes each event; ``True`` ends the stream."""


async def read_events(response: httpx.Response, handle: Handler, *, on_open: Callable[[], None] | None = None) -> bool:
    """Feed the events of ``response`` to ``handle`` until it says stop (``True``) or the stream ends (``False``).

    The read is ended by cancelling it, so httpx's chain of generators unwinds at once (leaving the loop would
    leave them to the garbage collector)."""
    parser = SseParser()
    stopped = False
    with trio.CancelScope() as scope:
        async for line in response.aiter_lines():
            if on_open is not None:
                on_open()
                on_open = None
            if scope.cancel_called:
                continue
            event = parser.feed(line.rstrip("\r"))
            if event is not None and handle(event):
                stopped = True
                scope.cancel()
    return stopped


async def follow(client: Client, path: str, handle: Handler, *, last_id: str | None = None) -> None:
    """Follow the SSE stream at ``path`` until ``handle`` says stop, reconnecting with ``Last-Event-ID`` after a
    dropped connection or a server restart (saying so once on stderr). A first connection that fails, and any
    refusal (a 404, a bad token), raise :class:`ClientError`."""
    connected = False
    attempt = 0

    def track(event: SseEvent) -> bool:
        nonlocal last_id
        if event.id is not None:
            last_id = event.id
        return handle(event)

    def opened() -> None:
        nonlocal connected, attempt
        if attempt and connected:
            print("orcha: reconnected", file=sys.stderr)
        connected, attempt = True, 0

    while True:
        headers = {"Accept": "text/event-stream"}
        if last_id is not None:
            headers["Last-Event-ID"] = last_id
        try:
            async with client.stream(path, headers=headers) as response:
                if await read_events(response, track, on_open=opened):
                    return
        except ClientError as exc:
            if not connected or (exc.http_status is not None and exc.http_status < 500):
                raise
        except httpx.TransportError:
            if not connected:
                raise
        if attempt == 0:
            print("orcha: the connection to the server dropped; reconnecting…", file=sys.stderr)
        await trio.sleep(RECONNECT_SECONDS[min(attempt, len(RECONNECT_SECONDS) - 1)])
        attempt += 1
