"""The scheduler's tick: one read, one transaction for the slots of every planned start, the placed sessions
told concurrently; a session that no longer waits hands its slot (and its workspace lock) back."""

from __future__ import annotations

import trio
import trio.testing

from orcha.actors.scheduler import Scheduler
from orcha.io.gateway import StoreGateway
from orcha.model import LockKind, SessionStatus, Target, WorkspaceKind
from tests.actors.harness import fake, wall_clock
from tests.conftest import make_target, make_worker

S = SessionStatus


class Sessions:
    """The sessions' side: each placement waits until every one of the tick has been asked (so a tick that
    told them one by one would never end); ``refuse`` names the sessions canceled meanwhile."""

    def __init__(self, expected: int, refuse: set[str]) -> None:
        self.placed: list[tuple[str, str]] = []
        self.waiting: list[tuple[str, str]] = []
        self._all_asked = trio.Event()
        self._expected = expected
        self._refuse = refuse

    async def place(self, session_id: str, target: Target) -> bool:
        self.placed.append((session_id, target.id))
        if len(self.placed) == self._expected:
            self._all_asked.set()
        await self._all_asked.wait()
        return session_id not in self._refuse

    def await_capacity(self, session_id: str, reason: str) -> None:
        self.waiting.append((session_id, reason))

    async def cancel(self, session_id: str, reason: str) -> None:
        raise AssertionError("no dependency is broken here")


def _scheduler(store, sessions: Sessions, *, max_concurrent: int = 10) -> Scheduler:
    from orcha.agents.registry import ProviderRegistry

    return Scheduler(
        StoreGateway(store, inline=True),
        ProviderRegistry({"fake": fake()}),
        clock=wall_clock,
        sessions=sessions,
        max_concurrent=max_concurrent,
        interval=3600,
    )


async def test_a_tick_claims_every_start_at_once_and_tells_the_sessions_concurrently(store, autojump_clock):
    target = make_target(store, capacity=3)
    objective, manager = store.create_objective(title="t", prompt="p", agent="fake")
    workers = [make_worker(store, objective.id) for _ in range(5)]
    scratch = store.create_workspace(objective_id=objective.id, kind=WorkspaceKind.SHARED_SCRATCH)
    writer = store.create_session(objective_id=objective.id, agent="fake", prompt="w", workspace_id=scratch.id)
    sessions = Sessions(expected=4, refuse={workers[1].id})
    with trio.fail_after(10):
        await _scheduler(store, sessions).tick()
    assert sorted(sessions.placed) == sorted(
        [(manager.id, target.id), (workers[0].id, target.id), (workers[1].id, target.id), (workers[2].id, target.id)]
    )
    held = store.slot_holders()
    assert held == {workers[0].id: target.id, workers[2].id: target.id}  # the refused one handed its slot back
    assert {sid for sid, _ in sessions.waiting} == {workers[3].id, workers[4].id, writer.id}
    assert all("capacity" in reason for _, reason in sessions.waiting)
    assert store.lock_holder(LockKind.WORKSPACE, scratch.id) is None  # no slot for it: its lock went back


async def test_a_refused_placement_gives_back_its_workspace_lock(store, autojump_clock):
    target = make_target(store, capacity=3)
    objective, manager = store.create_objective(title="t", prompt="p", agent="fake")
    store.update_session_status(manager.id, S.CANCELED)  # no manager in the way
    scratch = store.create_workspace(objective_id=objective.id, kind=WorkspaceKind.SHARED_SCRATCH)
    writer = store.create_session(objective_id=objective.id, agent="fake", prompt="w", workspace_id=scratch.id)
    sessions = Sessions(expected=1, refuse={writer.id})
    await _scheduler(store, sessions).tick()
    assert sessions.placed == [(writer.id, target.id)]
    assert store.slot_holders() == {}
    assert store.lock_holder(LockKind.WORKSPACE, scratch.id) is None


async def test_the_global_cap_holds_across_one_tick(store, autojump_clock):
    make_target(store, capacity=10)
    objective, manager = store.create_objective(title="t", prompt="p", agent="fake")
    store.update_session_status(manager.id, S.CANCELED)
    workers = [make_worker(store, objective.id) for _ in range(6)]
    sessions = Sessions(expected=2, refuse=set())
    await _scheduler(store, sessions, max_concurrent=2).tick()
    assert sorted(sid for sid, _ in sessions.placed) == sorted([workers[0].id, workers[1].id])  # the oldest
    assert len(store.slot_holders()) == 2
    assert [sid for sid, _ in sessions.waiting] == [w.id for w in workers[2:]]


# --- a long queue: a tick reads a page of the workers waiting for capacity --------------------------------


async def test_a_tick_on_a_long_queue_reads_a_page_and_places_what_the_whole_queue_would(
    store, autojump_clock, monkeypatch
):
    """With the global cap nearly reached, the oldest waiting workers start, as a read of the whole queue
    would have them: a page of three is read, not the forty."""
    from orcha.actors import scheduler as scheduler_module

    monkeypatch.setattr(scheduler_module, "WAITING_PAGE", 3)
    target = make_target(store, capacity=50)
    objective, manager = store.create_objective(title="t", prompt="p", agent="fake")
    store.update_session_status(manager.id, S.CANCELED)
    workers = [make_worker(store, objective.id) for _ in range(40)]
    for worker in workers:
        store.update_session_status(worker.id, S.WAITING_CAPACITY, reason="global cap")
    running = workers[:8]
    for worker in running:  # 8 live of a cap of 10: two may start
        store.claim_target_slot(target.id, worker.id)
        store.update_session_status(worker.id, S.STARTING)
    young = make_worker(store, objective.id)  # queued, younger than every waiting one
    read: list[int | None] = []
    view = store.scheduling_view

    def counting(*, waiting_workers=None):
        read.append(waiting_workers)
        return view(waiting_workers=waiting_workers)

    monkeypatch.setattr(store, "scheduling_view", counting)
    sessions = Sessions(expected=2, refuse=set())
    await _scheduler(store, sessions, max_concurrent=10).tick()
    assert sorted(sid for sid, _ in sessions.placed) == sorted([workers[8].id, workers[9].id])  # the oldest
    assert read == [3]  # one page was enough: no room left after it
    assert [sid for sid, _ in sessions.waiting] == [young.id]  # the queued one is told why it waits


async def test_a_page_that_leaves_room_is_read_again_bigger_so_no_younger_session_jumps_the_queue(
    store, autojump_clock, monkeypatch
):
    from orcha.actors import scheduler as scheduler_module

    monkeypatch.setattr(scheduler_module, "WAITING_PAGE", 2)
    target = make_target(store, capacity=50)
    objective, manager = store.create_objective(title="t", prompt="p", agent="fake")
    store.update_session_status(manager.id, S.CANCELED)
    waiting = [make_worker(store, objective.id) for _ in range(6)]
    for worker in waiting:
        store.update_session_status(worker.id, S.WAITING_CAPACITY, reason="global cap")
    young = make_worker(store, objective.id)  # queued, younger than every waiting one
    sessions = Sessions(expected=5, refuse=set())
    await _scheduler(store, sessions, max_concurrent=5).tick()
    assert sorted(sid for sid, _ in sessions.placed) == sorted(w.id for w in waiting[:5])  # not the young one
    assert young.id in {sid for sid, _ in sessions.waiting}
    assert target.id in store.target_loads()


class SlowSessions(Sessions):
    """Placements answered only once ``answer`` is set (a busy loop's few turns, stretched)."""

    def __init__(self, refuse: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        super().__init__(expected=0, refuse=set(refuse))
        self.answer = trio.Event()

    async def place(self, session_id: str, target: Target) -> bool:
        self.placed.append((session_id, target.id))
        await self.answer.wait()
        return session_id not in self._refuse


async def test_a_tick_does_not_wait_for_its_placements_and_the_next_counts_them_as_live(store, autojump_clock):
    target = make_target(store, capacity=10)
    objective, manager = store.create_objective(title="t", prompt="p", agent="fake")
    store.update_session_status(manager.id, S.CANCELED)
    first = [make_worker(store, objective.id) for _ in range(3)]
    sessions = SlowSessions(refuse={first[2].id})
    scheduler = _scheduler(store, sessions, max_concurrent=4)
    async with trio.open_nursery() as places:
        with trio.fail_after(5):
            await scheduler.tick(places)  # returns with the three placements still unanswered
        await trio.testing.wait_all_tasks_blocked()
        assert sorted(sid for sid, _ in sessions.placed) == sorted(w.id for w in first)
        later = [make_worker(store, objective.id) for _ in range(2)]
        await scheduler.tick(places)  # the three still read as queued: not placed again, counted as live
        await trio.testing.wait_all_tasks_blocked()
        assert sorted(sid for sid, _ in sessions.placed) == sorted(w.id for w in [*first, later[0]])
        assert [sid for sid, _ in sessions.waiting] == [later[1].id]  # the cap of four is reached
        sessions.answer.set()
    assert set(store.slot_holders()) == {first[0].id, first[1].id, later[0].id}  # the refused one handed it back
    assert target.id in store.target_loads()
