"""The change feed: rows to every subscriber, committed lines to watches and, as a set, to activity subscribers."""

from __future__ import annotations

import trio

from orcha.actors.changes import ACTIVITY, ChangeFeed
from orcha.model import TranscriptEntry, TranscriptKind


def _entry(session_id: str, seq: int) -> TranscriptEntry:
    return TranscriptEntry(session_id=session_id, seq=seq, kind=TranscriptKind.TEXT, body=f"l{seq}", ts=0.0)


def _drain(receive: trio.MemoryReceiveChannel) -> list:
    taken = []
    while True:
        try:
            taken.append(receive.receive_nowait())
        except trio.WouldBlock:
            return taken


async def test_a_thousand_sessions_printing_wake_an_activity_subscriber_once():
    feed = ChangeFeed()
    async with feed.subscribe_with_activity() as (changes, activity), feed.subscribe() as rows_only:
        for batch in range(100):
            feed.lines_committed([f"s{n}" for n in range(batch * 10, batch * 10 + 10)])
            feed.lines_committed(["s0"])  # again: still one entry
        assert _drain(changes) == [ACTIVITY]
        assert activity.take() == [f"s{n}" for n in range(1000)]
        assert _drain(rows_only) == []  # a plain subscriber never hears of lines
        feed.lines_committed(["s7"])  # taken: the next commit wakes it again
        assert _drain(changes) == [ACTIVITY] and activity.take() == ["s7"]


async def test_rows_reach_every_subscriber_and_the_watches_of_their_id():
    feed = ChangeFeed()
    async with feed.subscribe_with_activity() as (changes, activity), feed.subscribe() as rows_only:
        with feed.watch("s1") as watch, feed.watch("s2") as other:
            feed.announce("session", "s1")
            assert [c.id for c in _drain(changes)] == ["s1"] == [c.id for c in _drain(rows_only)]
            assert watch.take_other() and not other.take_other()
            assert activity.take() == []


async def test_committed_lines_go_to_their_session_watch_and_lines_from_elsewhere_send_it_to_the_store():
    feed = ChangeFeed()
    with feed.watch("s1") as watch:
        feed.publish_lines([_entry("s1", 1), _entry("s2", 1), _entry("s1", 2)])
        assert [e.seq for e in watch.take_lines(0) or []] == [1, 2] and not watch.take_other()
        feed.announce("transcript", "s1")  # appended outside the writer: no lines in hand
        assert watch.take_lines(2) == [] and watch.take_other()


async def test_a_full_subscriber_misses_changes_and_never_blocks_the_sender():
    feed = ChangeFeed()
    async with feed.subscribe(buffer=2) as changes:
        for n in range(5):
            feed.announce("session", f"s{n}")
        assert [c.id for c in _drain(changes)] == ["s0", "s1"]
