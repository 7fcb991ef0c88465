"""Live streams: SSE of a session's transcript and of state changes, and the dashboard's websocket.

SSE streams lift Quart's 60 s response timeout, send only committed rows (they read on the web's read-only
connection), resume from ``Last-Event-ID`` or ``?after=``, and send a keep-alive comment when idle.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

import trio
from quart import Blueprint, Response, make_response, request, websocket

from orcha.actors.changes import ACTIVITY, Change
from orcha.model import Session, TranscriptEntry, TranscriptPage
from orcha.oneline import Now
from orcha.ports import call
from orcha.store_port import StorePort
from orcha.validation import INT64_MAX
from orcha.views import SessionRow
from orcha.web.api import context, guard, parse_int, query_int
from orcha.web.json import to_data
from orcha.web.told import ToldNows

streams = Blueprint("streams", __name__)
guard(streams)
PAGE = 500
COALESCE_SECONDS = 0.1


def sse(*, data: Any, event: str | None = None, ident: int | None = None) -> bytes:
    lines = []
    if ident is not None:
        lines.append(f"id: {ident}")
    if event is not None:
        lines.append(f"event: {event}")
    lines.append(f"data: {json.dumps(data, separators=(',', ':'), default=str)}")
    return ("\n".join(lines) + "\n\n").encode()


def resume_cursor() -> int | None:
    """Where a stream starts: after ``Last-Event-ID`` (a reconnecting EventSource) or ``?after=``; ``None``: unsaid.

    Checked before the stream starts, so a bad cursor is a 400, never a stream that breaks off.
    """
    header = request.headers.get("Last-Event-ID")
    if header is not None and header.strip():
        return parse_int(header.strip(), "Last-Event-ID", minimum=0, maximum=INT64_MAX, what="Last-Event-ID")
    if request.args.get("after"):
        return query_int("after", 0)
    return None


async def _wait_for(
    changes: trio.MemoryReceiveChannel[Change], wanted: Callable[[Change], bool], keepalive: float
) -> bool:
    """Wait for a wanted change until the keep-alive interval passes; ``False`` when it passed."""
    with trio.move_on_after(keepalive):
        while True:
            if wanted(await changes.receive()):
                return True
    return False


async def _streaming(body: AsyncIterator[bytes]) -> Response:
    response = await make_response(
        body, 200, {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )
    response.timeout = None  # type: ignore[union-attr]  # an SSE stream lives as long as its client
    return response  # type: ignore[return-value]


def _lines(entries: Sequence[TranscriptEntry]) -> bytes:
    """SSE ``line`` events, one write for all the lines a subscriber is behind on.

    Byte for byte what :func:`sse` makes of ``{"seq", "kind", "body", "ts"}``, with only the body through the
    JSON encoder (the seq is an int, the kind a plain word, the ts a finite float, whose repr is JSON)."""
    return "".join(
        f'id: {entry.seq}\nevent: line\ndata: {{"seq":{entry.seq},"kind":"{entry.kind}",'
        f'"body":{_json_string(entry.body)},"ts":{entry.ts!r}}}\n\n'
        for entry in entries
    ).encode()


_json_string = json.encoder.encode_basestring_ascii


def _page_and_status(session_id: str, after: int, store: StorePort) -> tuple[TranscriptPage, Session]:
    """The next page of a session's lines and its session, in one call (one trip to the reader thread)."""
    return store.read_transcript(session_id, after=after, limit=PAGE), store.get_session(session_id)


@streams.get("/api/sessions/<session_id>/stream")
async def session_stream(session_id: str) -> Response:
    cursor = resume_cursor() or 0
    ctx = context()  # the body runs outside the request context
    await ctx.read(lambda s: s.get_session(session_id))  # 404 before the stream starts

    async def body() -> AsyncIterator[bytes]:
        nonlocal cursor
        with ctx.changes.watch(session_id) as changed:  # its lines and its status, woken once per commit
            yield b"retry: 2000\n\n"
            while True:  # catch up from the store (its lines, then whether it has ended) ...
                changed.take_other()  # before the read: a change while it runs is seen by the wait below
                page, session = await ctx.read(functools.partial(_page_and_status, session_id, cursor))
                if page.items:
                    yield _lines(page.items)
                cursor = page.next_after
                if len(page.items) == PAGE:
                    continue
                if session.status.is_terminal and session.transcript_seq <= cursor:
                    yield sse(event="end", data={"status": str(session.status), "next_after": cursor})
                    return
                while True:  # ... then, while it keeps up, take the lines committed since, from memory
                    if not await changed.wait(ctx.keepalive_seconds):
                        yield b": keep-alive\n\n"
                        continue
                    held = changed.take_lines(cursor)
                    if held:
                        yield _lines(held)
                        cursor = held[-1].seq
                    if held is None or changed.take_other():
                        break  # behind (or the session changed): back to the store

    return await _streaming(body())


@streams.get("/api/events/stream")
async def events_stream() -> Response:
    explicit = resume_cursor()
    ctx = context()
    # a new subscriber starts from now
    cursor = explicit if explicit is not None else await ctx.read(lambda s: s.latest_event_id())

    async def body() -> AsyncIterator[bytes]:
        nonlocal cursor
        async with ctx.changes.subscribe() as changes:
            yield b"retry: 2000\n\n"
            while True:
                events = await ctx.read(call(StorePort.events_after, cursor, limit=PAGE))
                for event in events:
                    yield sse(ident=event.id, event=event.kind, data=to_data(event))
                    cursor = event.id
                if len(events) == PAGE:
                    continue
                if not await _wait_for(changes, lambda c: c.kind != "transcript", ctx.keepalive_seconds):
                    yield b": keep-alive\n\n"

    return await _streaming(body())


def activity_message(printed: Mapping[str, Now | None]) -> dict[str, Any]:
    """``{"type": "activity", "sessions": [ids], "now": {id: {"now", "last_output_at"}}}``: the sessions that
    printed and, for those whose commit passed the feed, what each is doing now (``now`` null: its newest lines
    said nothing new, the row's ``now`` stands)."""
    return {
        "type": "activity",
        "sessions": list(printed),
        "now": {
            sid: {"now": now.now, "last_output_at": now.last_output_at}
            for sid, now in printed.items()
            if now is not None
        },
    }


def activity_json(printed: Mapping[str, Now | None]) -> str:
    """``json.dumps(activity_message(printed))``, byte for byte, with only the ids and the summaries through
    the JSON encoder (a timestamp is a finite float, whose repr is JSON): a thousand printing sessions ten
    times a second cost one pass, not an encoder's walk of a dict per session."""
    ids = ", ".join(_json_string(sid) for sid in printed)
    nows = ", ".join(
        f'{_json_string(sid)}: {{"now": {"null" if now.now is None else _json_string(now.now)},'
        f' "last_output_at": {_json_float(now.last_output_at)}}}'
        for sid, now in printed.items()
        if now is not None
    )
    return f'{{"type": "activity", "sessions": [{ids}], "now": {{{nows}}}}}'


def _json_float(value: float) -> str:
    return repr(value) if math.isfinite(value) else json.dumps(value)


@streams.websocket("/ws")
async def dashboard_socket() -> None:
    """The dashboard's live channel: a snapshot, then one delta per changed row and one ``activity`` message
    naming the sessions that printed, each coalesced over :data:`COALESCE_SECONDS`. A session's row carries
    what the socket last told of it while the store's summary is older (:mod:`orcha.web.told`)."""
    told = ToldNows()
    async with context().changes.subscribe_with_activity() as (changes, activity):
        snapshot = await context().read(lambda s: s.dashboard())
        await websocket.send(json.dumps({"type": "snapshot", "dashboard": to_data(snapshot)}, default=str))
        while True:
            pending = {await changes.receive()}
            with trio.move_on_after(COALESCE_SECONDS):
                while True:
                    pending.add(await changes.receive())
            for change in sorted(pending, key=lambda c: (c.kind, c.id)):
                if change == ACTIVITY:
                    continue
                row = await context().read(call(StorePort.dashboard_row, change.kind, change.id))
                if isinstance(row, SessionRow):
                    row = told.overlay(row, trio.current_time())
                delta = {"type": "delta", "kind": change.kind, "id": change.id, "row": to_data(row)}
                await websocket.send(json.dumps(delta, default=str))
            printed = activity.take_now()
            if printed:
                told.told(printed, trio.current_time())
                await websocket.send(activity_json(printed))
