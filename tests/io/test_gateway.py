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


# --- on the loop: the calls of one turn share a transaction -------------------------------------------------


def _commits(store) -> list[str]:
    """Every transaction's end the store's connection runs from now on (its SQL, as traced)."""
    ends: list[str] = []

    def trace(_cursor, sql, _bindings):
        if sql.strip().upper() in ("COMMIT", "ROLLBACK"):  # (not a savepoint's ROLLBACK TO)
            ends.append(sql.strip().upper())
        return True

    store.connection.exec_trace = trace
    return ends


async def test_on_loop_the_calls_made_in_one_turn_share_one_commit_and_each_gets_its_own_result(store):
    db = StoreGateway(store, on_loop=True)
    objective, manager = store.create_objective(title="t", prompt="p", agent="fake")
    ends = _commits(store)
    results: dict[int, object] = {}

    async def caller(n: int) -> None:
        if n == 2:  # a store method that fails after it wrote: its writes are rolled back, the others' are not
            results[n] = await db.run(functools.partial(_writes_then_fails, manager.id))
        results[n] = (await db.run(lambda s: s.add_notice(objective.id, "k", f"notice {n}"))) > 0

    async with trio.open_nursery() as nursery:
        for n in range(5):
            nursery.start_soon(functools.partial(_record_error, results, n, caller))
    assert ends == ["COMMIT"]  # five calls, one transaction (the failed one rolled back to its savepoint)
    assert results == {0: True, 1: True, 2: "NotFoundError", 3: True, 4: True}
    assert sorted(n.text for n in store.pending_notices(objective.id)) == [f"notice {n}" for n in (0, 1, 3, 4)]
    assert store.get_session(manager.id).status_reason is None  # the failed call's write is not there
    ends.clear()
    assert await db.run(lambda s: s.add_notice(objective.id, "k", "alone")) and ends == ["COMMIT"]  # a call alone


def _writes_then_fails(session_id: str, store) -> None:
    with store._db.write() as tx:
        tx.execute("UPDATE sessions SET status_reason = 'two' WHERE id = ?", (session_id,))
        raise NotFoundError("objective", "obj_x")


async def _record_error(results: dict[int, object], n: int, caller) -> None:
    try:
        await caller(n)
    except Exception as exc:
        results[n] = type(exc).__name__


async def test_on_loop_when_the_groups_commit_fails_no_call_of_it_is_stored_and_each_caller_hears_it(store):
    """A deferred foreign key fails the group's COMMIT: nothing of any call is stored, every caller gets a
    StoreError, and the store forgets what it remembered of the writes (the transcript's tails)."""
    from orcha.errors import StoreError
    from orcha.model import TranscriptKind, TranscriptLine

    db = StoreGateway(store, on_loop=True)
    objective, manager = store.create_objective(title="t", prompt="p", agent="fake")
    store.append_transcript([TranscriptLine(session_id=manager.id, kind=TranscriptKind.TEXT, body="one")])
    ends = _commits(store)
    outcomes: list[object] = []

    def breaks_the_commit(s):
        conn = s.connection
        conn.execute("PRAGMA defer_foreign_keys = ON")
        conn.execute("INSERT INTO target_slots (session_id, target_id, claimed_at) VALUES ('ses_x', 'tgt_x', 0)")

    line = TranscriptLine(session_id=manager.id, kind=TranscriptKind.TEXT, body="two")

    async def caller(fn) -> None:
        try:
            outcomes.append(await db.run(fn))
        except StoreError as exc:
            outcomes.append(str(exc))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(caller, lambda s: s.append_transcript([line])[0].seq)
        nursery.start_soon(caller, lambda s: s.add_notice(objective.id, "k", "lost"))
        nursery.start_soon(caller, breaks_the_commit)
    assert ends == ["COMMIT", "ROLLBACK"]  # the commit refused, the whole group rolled back
    assert len(outcomes) == 3 and all("FOREIGN KEY" in str(o) and "not stored either" in str(o) for o in outcomes)
    assert store.pending_notices(objective.id) == []
    assert [e.body for e in store.read_transcript(manager.id).items] == ["one"]
    assert await db.run(lambda s: s.append_transcript([line])[0].seq) == 2  # no gap where the lost one was


async def test_on_loop_a_call_cancelled_while_its_group_waits_is_never_run_and_the_rest_run(store):
    """A call that joined a group is withdrawn by a cancel until the group starts (then it runs, and the
    cancel comes after). The group is held here (no leader runs it) so the cancel lands while it waits."""
    db = StoreGateway(store, on_loop=True)
    ran: list[str] = []
    group = db._group = gateway_module._Group()
    outcomes: list[str] = []

    async def caller(name: str, scope: trio.CancelScope) -> None:
        with scope:
            outcomes.append(await db.run(lambda s: ran.append(name) or name))
        if scope.cancelled_caught:
            outcomes.append(f"{name} cancelled")

    withdrawn, kept = trio.CancelScope(), trio.CancelScope()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(caller, "withdrawn", withdrawn)
        nursery.start_soon(caller, "kept", kept)
        await trio.testing.wait_all_tasks_blocked()
        assert len(group.members) == 2 and ran == []  # both wait in the group
        withdrawn.cancel()
        await trio.testing.wait_all_tasks_blocked()
        assert outcomes == ["withdrawn cancelled"]
        db._group = None
        gateway_module._run_group(group, db._lock, store)  # what its leader does at the next turn
        assert ran == ["kept"]
        kept.cancel()  # too late: the group has run; the result is delivered, the cancel finds nothing to stop
        for member in group.members:
            if not member.withdrawn:
                trio.lowlevel.reschedule(member.task, member.result)
    assert outcomes == ["withdrawn cancelled", "kept"] and ran == ["kept"]


async def test_on_loop_a_group_formed_while_a_long_call_runs_waits_for_it_on_the_worker_in_order(store):
    """One connection, one call at a time: a long call queued while a group forms runs first; the group then
    runs on the worker, its calls in the order they were made, one transaction for them."""
    db = StoreGateway(store, on_loop=True)
    release = threading.Event()
    order: list[str] = []

    def step(name: str, wait: bool = False):
        def fn(_store):
            if wait:
                release.wait(10)
            order.append(f"{name}@{threading.current_thread().name}")

        return fn

    async with trio.open_nursery() as nursery:
        nursery.start_soon(db.run, step("short0"))  # leads a group: it runs at the next turn
        nursery.start_soon(functools.partial(db.run, step("long", wait=True), long=True))  # queued meanwhile
        nursery.start_soon(db.run, step("short1"))  # joins the group
        await trio.testing.wait_all_tasks_blocked()
        release.set()
    assert order[0] == "long@orcha-store"  # (the two short ones in the order trio ran their callers)
    assert sorted(order[1:]) == ["short0@orcha-store", "short1@orcha-store"]
    assert db._outstanding == 0
