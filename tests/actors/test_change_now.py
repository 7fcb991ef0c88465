"""The change feed tells activity subscribers what each printing session is doing now, from the committed lines
in memory: one wake-up for many commits, the newest words kept, a commit that says nothing keeping the last."""

from __future__ import annotations

import json

import trio

from orcha.actors.changes import ACTIVITY, ChangeFeed
from orcha.model import TranscriptEntry, TranscriptKind
from orcha.oneline import Now
from orcha.web.streams import activity_message


def _line(session_id: str, seq: int, kind: TranscriptKind, body: str) -> TranscriptEntry:
    return TranscriptEntry(session_id=session_id, seq=seq, kind=kind, body=body, ts=float(seq))


def _drain(receive: trio.MemoryReceiveChannel) -> list:
    taken = []
    while True:
        try:
            taken.append(receive.receive_nowait())
        except trio.WouldBlock:
            return taken


async def test_activity_holds_what_each_session_is_doing_now_from_the_committed_lines():
    feed = ChangeFeed()
    async with feed.subscribe_with_activity() as (changes, activity):
        edit = json.dumps({"tool": "Edit", "arguments": {"file_path": "a.py"}})
        feed.publish_lines(
            [_line("s1", 1, TranscriptKind.TEXT, "reading"), _line("s2", 1, TranscriptKind.TOOL_CALL, edit)]
        )
        feed.lines_committed(["s1", "s2"])
        feed.publish_lines([_line("s1", 2, TranscriptKind.USAGE, "{}")])  # says nothing: "reading" stands
        feed.lines_committed(["s1"])
        feed.lines_committed(["s3"])  # lines committed outside the writer: known to have printed, not what
        assert _drain(changes) == [ACTIVITY]  # one wake-up for all of it
        assert activity.take_now() == {
            "s1": Now(now="reading", last_output_at=2.0),
            "s2": Now(now="Edit a.py", last_output_at=1.0),
            "s3": None,
        }
        feed.publish_lines([_line("s2", 2, TranscriptKind.TEXT, "done\nwith details")])
        assert _drain(changes) == [ACTIVITY]  # taken: the next commit wakes it again, lines first
        assert activity.take_now() == {"s2": Now(now="done", last_output_at=2.0)}


async def test_a_plain_subscriber_costs_no_summaries():
    feed = ChangeFeed()
    async with feed.subscribe() as rows_only:
        feed.publish_lines([_line("s1", 1, TranscriptKind.TEXT, "x")])
        assert _drain(rows_only) == []


def test_the_activity_message_names_every_session_and_says_what_those_known_are_doing():
    message = activity_message(
        {"s1": Now(now="reading", last_output_at=2.0), "s2": None, "s3": Now(now=None, last_output_at=3.0)}
    )
    assert message == {
        "type": "activity",
        "sessions": ["s1", "s2", "s3"],
        "now": {"s1": {"now": "reading", "last_output_at": 2.0}, "s3": {"now": None, "last_output_at": 3.0}},
    }
