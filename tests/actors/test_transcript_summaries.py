"""The transcript writer stores what each session is doing now at most once a second per session: with its
lines when due, else by a later commit on its own; stopping writes what is still waiting."""

from __future__ import annotations

import trio
import trio.testing

from orcha.actors.transcript_buffer import TranscriptWriter
from orcha.io.gateway import StoreGateway
from orcha.model import TranscriptKind, TranscriptLine
from orcha.summary_schedule import INTERVAL as NOW_INTERVAL


class CountingDb:
    """The store, inline, counting the commits that wrote summaries (and of which sessions)."""

    def __init__(self, store) -> None:
        self._gateway = StoreGateway(store, inline=True)
        self.summarized: list[list[str]] = []

    async def run(self, fn, *, long=False):
        outer = self

        class Spy:
            def __init__(self, inner) -> None:
                self._inner = inner

            def append_transcript(self, lines, *, summarize=None, usage=()):
                outer.summarized.append(sorted(summarize or ()))
                return self._inner.append_transcript(lines, summarize=summarize, usage=usage)

        return await self._gateway.run(lambda store: fn(Spy(store)))


def _text(session_id: str, body: str) -> TranscriptLine:
    return TranscriptLine(session_id=session_id, kind=TranscriptKind.TEXT, body=body, ts=trio.current_time())


async def test_a_summary_is_written_at_most_once_a_second_and_the_newest_always_lands(store, autojump_clock):
    objective, manager = store.create_objective(title="t", prompt="p", agent="fake")
    worker = store.create_session(objective_id=objective.id, agent="fake", prompt="w").id
    db = CountingDb(store)
    writer = TranscriptWriter(db)
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        writer.emit(_text(manager.id, "first"))
        await writer.flush()
        assert store.get_session(manager.id).now == "first"  # never written before: written with its line
        for n in range(5):  # five commits within the second: lines stored, the summary waits
            await trio.sleep(NOW_INTERVAL / 10)
            writer.emit(_text(manager.id, f"line {n}"))
            writer.emit(_text(worker, f"worker {n}"))
            await writer.flush()
        assert store.get_session(manager.id).now == "first"
        assert store.get_session(worker).now == "worker 0"  # its first commit was due
        assert store.get_session(manager.id).transcript_seq == 6
        await trio.sleep(2 * NOW_INTERVAL)  # no more lines: once idle a second, it writes the waiting summaries
        assert store.get_session(manager.id).now == "line 4"
        assert store.get_session(worker).now == "worker 4"
        assert sum(manager.id in batch for batch in db.summarized) == 2  # six commits of its lines, two summaries
        assert sum(worker in batch for batch in db.summarized) == 2
        before = len(db.summarized)
        await trio.sleep(10 * NOW_INTERVAL)  # nothing stale: no more commits
        assert len(db.summarized) == before
        nursery.cancel_scope.cancel()


async def test_stopping_the_writer_writes_the_waiting_summaries(store, autojump_clock):
    _, manager = store.create_objective(title="t", prompt="p", agent="fake")
    writer = TranscriptWriter(StoreGateway(store, inline=True))
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        writer.emit(_text(manager.id, "first"))
        await writer.flush()
        writer.emit(_text(manager.id, "last words"))
        await writer.flush()
        assert store.get_session(manager.id).now == "first"
        nursery.cancel_scope.cancel()
    assert store.get_session(manager.id).now == "last words"  # so a restart shows them


async def test_a_writer_that_is_not_running_writes_each_commits_summaries(store, autojump_clock):
    _, manager = store.create_objective(title="t", prompt="p", agent="fake")
    writer = TranscriptWriter(StoreGateway(store, inline=True))  # a session's own writer: flushed, never run
    for body in ("one", "two"):
        writer.emit(_text(manager.id, body))
        await writer.flush()
        assert store.get_session(manager.id).now == body
