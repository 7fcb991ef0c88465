"""The store gateway: calls run one at a time on its own thread, back to back; a started call is never
abandoned; a call cancelled while it still waits is never run."""

from __future__ import annotations

import contextvars
import functools
import threading

import pytest
import trio
import trio.testing

from orcha.errors import NotFoundError
from orcha.io import gateway as gateway_module
from orcha.io.gateway import StoreGateway

CALLER = contextvars.ContextVar("caller", default="none")


async def test_a_call_returns_its_value_or_raises_its_error_in_the_caller(store):
    db = StoreGateway(store)
    objective, _ = store.create_objective(title="t", prompt="p", agent="fake")
    assert (await db.run(lambda s: s.get_objective(objective.id))).id == objective.id
    with pytest.raises(NotFoundError):
        await db.run(lambda s: s.get_objective("obj_missing"))
    assert await db.run(lambda s: threading.current_thread().name) == "orcha-store"
    CALLER.set("the caller")
    assert await db.run(lambda s: CALLER.get()) == "the caller"  # in the caller's context


async def test_concurrent_callers_run_one_at_a_time_in_the_order_they_called(store):
    db = StoreGateway(store)
    running, most, order = 0, 0, []
    guard = threading.Lock()

    def call(n: int):
        def fn(_store):
            nonlocal running, most
            with guard:
                running += 1
                most = max(most, running)
            order.append(n)
            with guard:
                running -= 1
            return n

        return fn

    results: dict[int, int] = {}

    async def caller(n: int) -> None:
        results[n] = await db.run(call(n))

    async with trio.open_nursery() as nursery:
        for n in range(50):
            nursery.start_soon(caller, n)
            await trio.lowlevel.checkpoint()  # each has queued its call before the next starts
    assert results == {n: n for n in range(50)}
    assert most == 1 and order == list(range(50))


async def test_a_call_cancelled_while_it_waits_is_never_run(store):
    db = StoreGateway(store)
    release = threading.Event()
    ran: list[str] = []

    def blocker(_store):
        release.wait(10)
        ran.append("blocker")
        return "blocker"

    async with trio.open_nursery() as nursery:
        nursery.start_soon(db.run, blocker)
        await trio.sleep(0.05)  # the blocker runs
        with trio.move_on_after(0.05) as waited:
            await db.run(lambda s: ran.append("withdrawn"))
        assert waited.cancelled_caught
        release.set()
    assert await db.run(lambda s: "after") == "after"
    assert ran == ["blocker"]


async def test_a_started_call_completes_and_its_caller_is_cancelled_after(store):
    """As ``trio.to_thread.run_sync`` without abandoning: the call's value comes back, then the cancel."""
    db = StoreGateway(store)
    objective, _ = store.create_objective(title="t", prompt="p", agent="fake")
    started, release = threading.Event(), threading.Event()

    def slow_note(s):
        started.set()
        release.wait(10)
        return s.add_note(objective_id=objective.id, session_id=None, text="kept")

    with trio.CancelScope() as scope:
        async with trio.open_nursery() as nursery:

            async def cancel_when_started() -> None:
                await trio.to_thread.run_sync(started.wait, 10)
                scope.cancel()
                release.set()

            nursery.start_soon(cancel_when_started)
            note = await db.run(slow_note)  # its value, though the cancel came while it ran
            assert note.text == "kept"
            await trio.lowlevel.checkpoint()  # the cancel lands at the next checkpoint
            pytest.fail("the caller is cancelled once the call is done")  # pragma: no cover
    assert scope.cancelled_caught
    assert [n.text for n in store.list_notes(objective.id)] == ["kept"]


async def test_an_idle_worker_thread_exits_and_a_later_call_starts_another(store, monkeypatch):
    monkeypatch.setattr(gateway_module, "IDLE_SECONDS", 0.05)
    db = StoreGateway(store)
    first = await db.run(lambda s: threading.get_ident())
    await trio.sleep(0.3)
    assert db._worker is None
    second = await db.run(lambda s: threading.get_ident())
    assert await db.run(lambda s: threading.get_ident()) == second
    assert isinstance(first, int)


async def test_inline_calls_run_on_the_trio_thread(store):
    db = StoreGateway(store, inline=True)
    assert await db.run(lambda s: threading.current_thread()) is threading.current_thread()


async def test_with_calls_waiting_the_trio_thread_takes_each_result_before_the_next_call_runs(store, monkeypatch):
    """Back to back, but fair: the worker never runs further ahead of the trio thread it shares the GIL with
    than ``AHEAD_SECONDS`` (here none at all)."""
    monkeypatch.setattr(gateway_module, "AHEAD_SECONDS", 0.0)  # never ahead of the trio thread
    monkeypatch.setattr(gateway_module, "TAKE_SECONDS", 5.0)  # so that only the taking lets it go on
    taken: list[int] = []
    deliver = gateway_module._deliver  # counts the results the trio thread has taken

    def counting(gateway, task, result, event):
        taken.append(1)
        deliver(gateway, task, result, event)

    monkeypatch.setattr(gateway_module, "_deliver", counting)
    db = StoreGateway(store)
    seen: dict[int, int] = {}

    def call(n: int):
        def fn(_store):
            seen[n] = len(taken)  # how many results the trio thread had taken when this call started
            return n

        return fn

    release = threading.Event()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(db.run, lambda _store: release.wait(10))  # holds the worker until all are queued
        await trio.sleep(0.05)
        for n in range(20):
            nursery.start_soon(db.run, call(n))
        await trio.testing.wait_all_tasks_blocked()
        release.set()
    taken.clear()
    assert sorted(seen) == list(range(20))
    order = sorted(seen, key=seen.get)
    assert [seen[n] - seen[order[0]] for n in order] == list(range(20))  # each ran once the one before was taken


# --- on_loop: short calls on the trio thread while the store is idle, long ones on the worker ---------------


async def test_on_loop_a_short_call_runs_on_the_trio_thread_and_a_long_one_on_the_worker(store):
    db = StoreGateway(store, on_loop=True)
    assert await db.run(lambda s: threading.current_thread()) is threading.current_thread()
    assert await db.run(lambda s: threading.current_thread().name, long=True) == "orcha-store"
    CALLER.set("the caller")
    assert await db.run(lambda s: CALLER.get()) == "the caller"
    with pytest.raises(NotFoundError):
        await db.run(lambda s: s.get_objective("obj_missing"))
    assert db._outstanding == 0


async def test_on_loop_calls_made_behind_a_long_one_wait_for_it_in_order_and_never_run_beside_it(store):
    """One connection, one call at a time: while a long call runs on the worker, the short calls made
    meanwhile queue behind it (a call on the trio thread then would run beside it, and overtake it)."""
    db = StoreGateway(store, on_loop=True)
    release = threading.Event()
    order: list[str] = []
    running = 0
    most = 0
    guard = threading.Lock()

    def step(name: str, wait: bool = False):
        def fn(_store):
            nonlocal running, most
            with guard:
                running += 1
                most = max(most, running)
            if wait:
                release.wait(10)
            order.append(f"{name}@{threading.current_thread().name}")
            with guard:
                running -= 1
            return name

        return fn

    async with trio.open_nursery() as nursery:
        nursery.start_soon(functools.partial(db.run, step("long", wait=True), long=True))
        await trio.testing.wait_all_tasks_blocked()
        for n in range(5):
            nursery.start_soon(db.run, step(f"short{n}"))
            await trio.testing.wait_all_tasks_blocked()
        assert order == []  # all wait behind the long one
        release.set()
    assert order == ["long@orcha-store", *(f"short{n}@orcha-store" for n in range(5))]
    assert most == 1 and db._outstanding == 0
    assert await db.run(lambda s: threading.current_thread()) is threading.current_thread()  # idle again


async def test_on_loop_a_short_call_cancelled_before_it_runs_is_never_run_and_a_queued_one_is_withdrawn(store):
    db = StoreGateway(store, on_loop=True)
    ran: list[str] = []
    with trio.CancelScope() as scope:
        scope.cancel()
        await db.run(lambda s: ran.append("short"))
    assert scope.cancelled_caught
    release = threading.Event()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(functools.partial(db.run, lambda s: release.wait(10), long=True))
        await trio.testing.wait_all_tasks_blocked()
        with trio.move_on_after(0.05) as waited:
            await db.run(lambda s: ran.append("withdrawn"))
        assert waited.cancelled_caught
        assert db._outstanding == 1  # only the long one, still running
        release.set()
    assert db._outstanding == 0
    assert await db.run(lambda s: threading.current_thread()) is threading.current_thread()
    assert ran == []
