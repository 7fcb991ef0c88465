"""One-for-one supervision on virtual time: restarts, isolation, escalation."""

from __future__ import annotations

import pytest
import trio

from orcha.supervisors import ChildSpec, Intensity, Restart, Supervisor, SupervisorGaveUp, compact_reason


class Boom(Exception):
    pass


async def test_a_crashing_child_is_restarted_and_its_sibling_keeps_running(autojump_clock):
    crashes: list[tuple[str, str]] = []
    runs = 0
    ticks = 0

    async def flaky() -> None:
        nonlocal runs
        runs += 1
        await trio.sleep(1)
        if runs <= 2:
            raise Boom(f"run {runs} failed")
        await trio.sleep_forever()

    async def steady() -> None:
        nonlocal ticks
        while True:
            await trio.sleep(1)
            ticks += 1

    async def record(name: str, exc: BaseException) -> None:
        crashes.append((name, compact_reason(exc)))

    sup = Supervisor("test", intensity=Intensity(max_restarts=3, window=60), on_crash=record)
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        sup.start_child(ChildSpec(name="flaky", run=flaky, restart=Restart.TRANSIENT))
        sup.start_child(ChildSpec(name="steady", run=steady))
        await trio.sleep(10.5)
        assert runs == 3
        assert ticks == 10
        assert crashes == [("flaky", "Boom: run 1 failed"), ("flaky", "Boom: run 2 failed")]
        assert sup.statistics().children == ("flaky", "steady")
        assert sup.statistics().restarts == 2
        nursery.cancel_scope.cancel()


async def test_a_temporary_child_is_not_restarted_and_its_crash_is_reported(autojump_clock):
    reported: list[str] = []
    runs = 0

    async def once() -> None:
        nonlocal runs
        runs += 1
        raise Boom("no second chance")

    async def hook(name: str, exc: BaseException) -> None:
        reported.append(name)

    sup = Supervisor("test")
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        sup.start_child(ChildSpec(name="once", run=once, restart=Restart.TEMPORARY, on_crash=hook))
        await trio.sleep(5)
        assert (runs, reported) == (1, ["once"])
        assert not sup.has_child("once")
        nursery.cancel_scope.cancel()


async def test_too_many_restarts_escalate_to_the_parent_supervisor(autojump_clock):
    parent_saw: list[str] = []

    async def always_fails() -> None:
        await trio.sleep(0.1)
        raise Boom("again")

    async def inner_supervisor() -> None:
        inner = Supervisor("inner", intensity=Intensity(max_restarts=2, window=10))
        async with trio.open_nursery() as nursery:
            await nursery.start(inner.run)
            inner.start_child(ChildSpec(name="bad", run=always_fails))

    async def parent_hook(name: str, exc: BaseException) -> None:
        parent_saw.append(compact_reason(exc))

    parent = Supervisor("parent", on_crash=parent_hook)
    async with trio.open_nursery() as nursery:
        await nursery.start(parent.run)
        parent.start_child(ChildSpec(name="inner", run=inner_supervisor, restart=Restart.TEMPORARY))
        await trio.sleep(5)
        nursery.cancel_scope.cancel()
    assert len(parent_saw) == 1
    assert parent_saw[0].startswith("SupervisorGaveUp: supervisor inner gave up")


async def test_an_unsupervised_gave_up_propagates(autojump_clock):
    async def always_fails() -> None:
        raise Boom("x")

    sup = Supervisor("top", intensity=Intensity(max_restarts=1, window=10))
    with pytest.RaisesGroup(SupervisorGaveUp, flatten_subgroups=True):
        async with trio.open_nursery() as nursery:
            await nursery.start(sup.run)
            sup.start_child(ChildSpec(name="bad", run=always_fails))


async def test_a_stopped_child_is_not_restarted(autojump_clock):
    runs = 0

    async def forever() -> None:
        nonlocal runs
        runs += 1
        await trio.sleep_forever()

    sup = Supervisor("test")
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        sup.start_child(ChildSpec(name="f", run=forever, restart=Restart.PERMANENT))
        await trio.sleep(1)
        assert sup.stop_child("f")
        await trio.sleep(1)
        assert (runs, sup.has_child("f"), sup.stop_child("f")) == (1, False, False)
        nursery.cancel_scope.cancel()
