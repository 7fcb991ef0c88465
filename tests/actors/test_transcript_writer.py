"""The transcript writer: group commit without a timer, announced after the commit, one bad session alone."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.lowlevel
import trio.testing

from orcha.actors.changes import HELD_LINES, ChangeFeed
from orcha.actors.transcript_buffer import MAX_WAITING, TranscriptBuffer, TranscriptWriter
from orcha.errors import NotFoundError
from orcha.io.gateway import StoreGateway
from orcha.model import TranscriptEntry, TranscriptKind, TranscriptLine, Usage, UsageUpdate


class SlowDb:
    """The store, inline, with each call taking ``delay`` (virtual) seconds and every call recorded."""

    def __init__(self, store, delay: float = 0.0) -> None:
        self._gateway = StoreGateway(store, inline=True)
        self.delay = delay
        self.batches: list[list[str]] = []

    async def run(self, fn: Any, *, long: bool = False) -> Any:
        class Spy:
            def __init__(self, inner, batches) -> None:
                self._inner, self._batches = inner, batches

            def append_transcript(self, lines, *, summarize=None, usage=()):
                if lines:  # a commit of summaries alone is no batch of lines
                    self._batches.append([line.body for line in lines])
                return self._inner.append_transcript(lines, summarize=summarize, usage=usage)

        if self.delay:
            await trio.sleep(self.delay)
        return await self._gateway.run(lambda store: fn(Spy(store, self.batches)))


def _sessions(store, n: int) -> list[str]:
    objective, manager = store.create_objective(title="t", prompt="p", agent="fake")
    others = [store.create_session(objective_id=objective.id, agent="fake", prompt="w").id for _ in range(n - 1)]
    return [manager.id, *others]


def _line(session_id: str, body: str) -> TranscriptLine:
    return TranscriptLine(session_id=session_id, kind=TranscriptKind.TEXT, body=body, ts=0.0)


async def test_a_line_is_committed_at_once_not_after_a_flush_interval(store, autojump_clock):
    [session] = _sessions(store, 1)
    committed: list[tuple[str, float]] = []
    writer = TranscriptWriter(
        StoreGateway(store, inline=True), lambda sids: committed.extend((sid, trio.current_time()) for sid in sids)
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        started = trio.current_time()
        writer.emit(_line(session, "hello"))
        await trio.testing.wait_all_tasks_blocked()
        assert committed == [(session, started)]  # no virtual time passed: no timer
        assert [e.body for e in store.read_transcript(session).items] == ["hello"]
        nursery.cancel_scope.cancel()


async def test_what_waits_during_a_commit_goes_in_the_next_one_whatever_the_session(store, autojump_clock):
    sessions = _sessions(store, 3)
    db = SlowDb(store, delay=0.01)
    writer = TranscriptWriter(db)
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        writer.emit(_line(sessions[0], "first"))
        expected = {session: ["first"] if session == sessions[0] else [] for session in sessions}
        await trio.sleep(0.001)  # the first commit is in flight
        for n, session in enumerate(sessions * 10):
            writer.emit(_line(session, f"line {n}"))
            expected[session].append(f"line {n}")
        await writer.flush()
        assert len(db.batches) == 2 and db.batches[0] == ["first"] and len(db.batches[1]) == 30
        for session in sessions:  # in order within each session
            assert [e.body for e in store.read_transcript(session).items] == expected[session]
        nursery.cancel_scope.cancel()


async def test_a_line_is_announced_only_once_it_can_be_read(store, autojump_clock):
    [session] = _sessions(store, 1)
    seen: list[list[str]] = []
    writer = TranscriptWriter(
        StoreGateway(store, inline=True),
        lambda sids: seen.extend([e.body for e in store.read_transcript(sid).items] for sid in sids),
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        for n in range(5):
            writer.emit(_line(session, str(n)))
            await trio.lowlevel.checkpoint()
        await writer.flush()
        assert seen and all(seen[i] == [str(n) for n in range(len(seen[i]))] for i in range(len(seen)))
        assert seen[-1] == ["0", "1", "2", "3", "4"]
        nursery.cancel_scope.cancel()


async def test_flush_commits_by_itself_when_the_writer_is_not_running(store):
    [session] = _sessions(store, 1)
    buffer = TranscriptBuffer(TranscriptWriter(StoreGateway(store, inline=True)), session, clock=lambda: 1.0)
    buffer.emit(TranscriptKind.SYSTEM, "orcha stopped")
    await buffer.flush()
    assert [(e.body, e.ts) for e in store.read_transcript(session).items] == [("orcha stopped", 1.0)]


async def test_a_flush_waiting_on_a_writer_that_stops_still_gets_its_lines_committed(store, autojump_clock):
    [session] = _sessions(store, 1)
    writer = TranscriptWriter(SlowDb(store, delay=0.01))
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        writer.emit(_line(session, "a"))
        await trio.sleep(0.001)
        writer.emit(_line(session, "b"))  # waits behind the commit in flight
        nursery.cancel_scope.cancel()  # orcha stops now
    with trio.fail_after(1):
        await writer.flush()
    assert [e.body for e in store.read_transcript(session).items] == ["a", "b"]


async def test_one_session_that_cannot_take_lines_loses_only_its_own(store, autojump_clock, caplog):
    [session] = _sessions(store, 1)
    writer = TranscriptWriter(StoreGateway(store, inline=True))
    writer.emit(_line(session, "kept"))
    writer.emit(_line("ses_nosuchsession", "lost"))
    writer.emit(_line(session, "kept too"))
    await writer.flush()
    assert [e.body for e in store.read_transcript(session).items] == ["kept", "kept too"]
    assert "ses_nosuchsession" in caplog.text
    with pytest.raises(NotFoundError):
        store.read_transcript("ses_nosuchsession")


async def test_usage_is_committed_with_the_lines_and_told_only_once_it_is_stored(store, autojump_clock):
    sessions = _sessions(store, 2)
    db = SlowDb(store)
    told: list[tuple[str, int]] = []
    writer = TranscriptWriter(
        db, on_usage=lambda sids: told.extend((sid, store.get_session(sid).usage.model_calls) for sid in sids)
    )
    first, second = (TranscriptBuffer(writer, sid, clock=lambda: 1.0) for sid in sessions)
    first.emit(TranscriptKind.TEXT, "thinking")
    first.add_usage(Usage(model_calls=1, input_tokens=10), cost_total_usd=0.5)
    first.add_usage(Usage(model_calls=1, output_tokens=3, cost_usd=0.25))  # added to the total before it
    second.add_usage(Usage(errors=1))  # usage alone, no line
    await first.flush()  # a flush waits for its usage as for its lines
    assert db.batches == [["thinking"]]  # one commit for all of it
    assert store.get_session(sessions[0]).usage == Usage(model_calls=2, input_tokens=10, output_tokens=3, cost_usd=0.75)
    assert store.get_session(sessions[1]).usage == Usage(errors=1)
    assert told == [(sessions[0], 2), (sessions[1], 0)]
    objective_id = store.get_session(sessions[0]).objective_id
    samples = list(
        store.database.conn.execute("SELECT cost_usd FROM objective_cost WHERE objective_id = ?", (objective_id,))
    )
    assert samples == [(0.75,)]  # one sample of the objective's total for the commit


async def test_a_sessions_usage_that_cannot_be_stored_loses_nothing_of_the_others(store, autojump_clock, caplog):
    [session] = _sessions(store, 1)
    writer = TranscriptWriter(StoreGateway(store, inline=True))
    writer.emit(_line(session, "kept"))
    writer.add_usage(UsageUpdate(session_id="ses_nosuchsession", delta=Usage(model_calls=1)))
    writer.add_usage(UsageUpdate(session_id=session, delta=Usage(model_calls=3)))
    await writer.flush()
    assert [e.body for e in store.read_transcript(session).items] == ["kept"]
    assert store.get_session(session).usage.model_calls == 3
    assert "ses_nosuchsession" in caplog.text


async def test_a_watch_coalesces_changes_and_never_misses_one(autojump_clock):
    feed = ChangeFeed()
    with feed.watch("ses_1") as watch:
        assert not await watch.wait(5)  # nothing: it waits its time
        feed.announce("session", "ses_2")
        feed.publish_lines([_entry("ses_2", 1)])
        assert not await watch.wait(5)  # another session's change does not wake it
        feed.publish_lines([_entry("ses_1", seq) for seq in range(1, 51)])
        for seq in range(51, 101):
            feed.publish_lines([_entry("ses_1", seq)])
        started = trio.current_time()
        assert await watch.wait(5) and trio.current_time() == started  # one wake-up for them all, at once
        assert [e.seq for e in watch.take_lines(0) or ()] == list(range(1, 101)) and not watch.take_other()
        assert not await watch.wait(5)
        feed.announce("session", "ses_1")  # its status changed: a wake-up with no lines
        assert await watch.wait(5) and watch.take_lines(100) == [] and watch.take_other()
        feed.publish_lines([_entry("ses_1", 102)])  # a gap (101 is missing): the holder reads the store
        assert await watch.wait(5) and watch.take_lines(100) is None
        feed.publish_lines([_entry("ses_1", seq) for seq in range(103, 103 + HELD_LINES + 1)])
        assert await watch.wait(5) and watch.take_lines(102) is None  # too many held: dropped, read the store
    feed.publish_lines([_entry("ses_1", 1)])  # after the block: no watcher left behind
    assert feed._watches == {}


def _entry(session_id: str, seq: int) -> TranscriptEntry:
    return TranscriptEntry(session_id=session_id, seq=seq, kind=TranscriptKind.TEXT, body=str(seq), ts=0.0)


async def test_an_emitter_gets_room_at_once_until_too_many_lines_wait_then_after_their_commit(store, autojump_clock):
    [session] = _sessions(store, 1)
    db = SlowDb(store, delay=0.5)
    writer = TranscriptWriter(db)
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        writer.emit(_line(session, "first"))
        await trio.sleep(0.1)  # its commit is in flight for 0.4 s more
        for n in range(MAX_WAITING - 1):
            writer.emit(_line(session, str(n)))
        before = trio.current_time()
        assert not writer.full()
        await writer.room()  # below the bound: no wait
        assert trio.current_time() == before
        writer.emit(_line(session, "one too many"))
        assert writer.full()
        await writer.room()  # at the bound: until what waits is committed (the commit in flight, then theirs)
        assert trio.current_time() == pytest.approx(before + 0.4 + 0.5)
        assert store.get_session(session).transcript_seq == MAX_WAITING + 1
        nursery.cancel_scope.cancel()


async def test_a_sessions_flush_waits_only_when_it_emitted_since_its_last(store, autojump_clock):
    """A status move flushes its session's lines first; with none new it waits for no commit (not even one
    of another session's lines in flight)."""
    quiet, busy = _sessions(store, 2)
    db = SlowDb(store, delay=1.0)
    writer = TranscriptWriter(db)
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        mine, theirs = (TranscriptBuffer(writer, s, clock=lambda: 0.0) for s in (quiet, busy))
        theirs.emit(TranscriptKind.TEXT, "in flight")
        started = trio.current_time()
        await mine.flush()  # nothing of its own: at once
        assert trio.current_time() == started
        mine.emit(TranscriptKind.TEXT, "mine")
        await mine.flush()  # its own line committed when it returns
        assert [e.body for e in store.read_transcript(quiet).items] == ["mine"]
        assert trio.current_time() > started
        again = trio.current_time()
        await mine.flush()
        assert trio.current_time() == again
        nursery.cancel_scope.cancel()


async def test_a_big_commit_is_said_to_be_long_so_it_is_kept_off_the_loop(store, autojump_clock):
    """``Db.run(long=True)`` for a commit of more than ``LONG_COMMIT`` lines: the writer's gateway runs it
    on its worker thread, not on the trio thread every other task waits on."""
    from orcha.actors.transcript_buffer import LONG_COMMIT

    [session] = _sessions(store, 1)
    gateway = StoreGateway(store, inline=True)
    said: list[tuple[int, bool]] = []

    class Recording:
        async def run(self, fn: Any, *, long: bool = False) -> Any:
            entries = await gateway.run(fn)
            said.append((len(entries), long))
            return entries

    writer = TranscriptWriter(Recording())
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        writer.emit(_line(session, "one"))
        await trio.testing.wait_all_tasks_blocked()
        for n in range(LONG_COMMIT + 1):
            writer.emit(_line(session, f"line {n}"))
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    assert said[:2] == [(1, False), (LONG_COMMIT + 1, True)]
