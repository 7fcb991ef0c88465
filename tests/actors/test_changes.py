"""The change feed: rows to every subscriber, committed lines to watches and, as a set, to activity subscribers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
import trio
import trio.testing

from orcha.actors.changes import ACTIVITY, ChangeFeed, Watch
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


def _clock() -> trio.testing.MockClock:
    return trio.testing.MockClock(autojump_threshold=0)


def _run(main: Callable[[], Awaitable[None]]) -> None:
    """``main`` on a virtual clock, failed if it waits longer than any of its waits should (not hung)."""

    async def bounded() -> None:
        with trio.fail_after(100):
            await main()

    trio.run(bounded, clock=_clock())


async def _wait_and_note(watch: Watch, within: float, results: list[tuple[bool, float]]) -> None:
    started = trio.current_time()
    changed = await watch.wait(within)
    results.append((changed, trio.current_time() - started))


def test_with_the_timer_a_wait_times_out_on_time_and_a_poke_ends_it_at_once() -> None:
    async def main() -> None:
        feed = ChangeFeed()
        results: list[tuple[bool, float]] = []
        async with trio.open_nursery() as nursery:
            await nursery.start(feed.timer.run)
            with feed.watch("quiet") as quiet, feed.watch("busy") as busy:
                async with trio.open_nursery() as waits:
                    waits.start_soon(_wait_and_note, quiet, 15.0, results)
                    waits.start_soon(_wait_and_note, busy, 15.0, results)
                    await trio.sleep(2.0)
                    busy.poke()
                assert results == [(True, 2.0), (False, 15.0)]
                assert not feed.timer._parked  # nothing left behind
                results.clear()
                async with trio.open_nursery() as waits:  # a shorter wait after a longer one: its own time
                    waits.start_soon(_wait_and_note, quiet, 15.0, results)
                    await trio.testing.wait_all_tasks_blocked()
                    waits.start_soon(_wait_and_note, busy, 0.5, results)
                assert results == [(False, 0.5), (False, 15.0)]
            nursery.cancel_scope.cancel()

    _run(main)


def test_with_the_timer_a_wait_enters_no_cancel_scope(monkeypatch: pytest.MonkeyPatch) -> None:
    entered = 0
    enter = trio.CancelScope.__enter__

    def counting(self: trio.CancelScope) -> trio.CancelScope:
        nonlocal entered
        entered += 1
        return enter(self)

    async def main() -> None:
        feed = ChangeFeed()
        results: list[tuple[bool, float]] = []
        async with trio.open_nursery() as nursery:
            await nursery.start(feed.timer.run)
            with feed.watch("s1") as watch:
                async with trio.open_nursery() as waits:
                    for _ in range(100):
                        waits.start_soon(_wait_and_note, watch, 15.0, results)
                        await trio.testing.wait_all_tasks_blocked()
                        before = entered
                        watch.poke(lines=[_entry("s1", 1)])
                        await trio.testing.wait_all_tasks_blocked()
                        assert entered == before
            nursery.cancel_scope.cancel()
        assert results == [(True, 0.0)] * 100

    monkeypatch.setattr(trio.CancelScope, "__enter__", counting)
    _run(main)


def test_a_cancelled_wait_leaves_nothing_and_a_stopped_timer_ends_the_waits_it_held() -> None:
    async def main() -> None:
        feed = ChangeFeed()
        results: list[tuple[bool, float]] = []
        async with trio.open_nursery() as nursery:
            timer = trio.CancelScope()

            async def run_timer() -> None:
                with timer:
                    await feed.timer.run()

            nursery.start_soon(run_timer)
            await trio.testing.wait_all_tasks_blocked()
            with feed.watch("s1") as watch:
                with trio.move_on_after(1.0):  # the caller's own deadline, before the wait's
                    await watch.wait(15.0)
                assert not feed.timer._parked
                async with trio.open_nursery() as waits:
                    waits.start_soon(_wait_and_note, watch, 15.0, results)
                    await trio.sleep(3.0)
                    timer.cancel()  # the timer stops: the wait it held ends now, as if timed out
                assert results == [(False, 3.0)]
                assert not feed.timer.running
                results.clear()
                await _wait_and_note(watch, 2.0, results)  # no timer: the wait times itself out
                assert results == [(False, 2.0)]
                watch.poke()
                await _wait_and_note(watch, 2.0, results)  # a change before the wait: at once
                assert results[-1] == (True, 0.0)

    _run(main)
