"""The scheduler's two store calls: its snapshot in one read, and a tick's placements in one transaction."""

from __future__ import annotations

import threading

import pytest

from orcha.errors import ConflictError
from orcha.io.store import SlotClaim, Store
from orcha.model import QuestionStatus, SessionRole, SessionStatus, TargetKind, TargetStatus
from orcha.scheduling import Placement
from tests.conftest import make_target, make_worker

S = SessionStatus


def test_the_view_holds_runnable_sessions_oldest_first_their_dependencies_targets_loads_and_live_counts(store):
    target = make_target(store, capacity=3)
    objective, manager = store.create_objective(title="t", prompt="p", agent="fake")
    first = make_worker(store, objective.id)
    second = store.create_session(objective_id=objective.id, agent="fake", prompt="p", depends_on=[first.id])
    running = make_worker(store, objective.id)
    store.claim_target_slot(target.id, running.id)
    store.update_session_status(running.id, S.STARTING)
    store.update_session_status(manager.id, S.STARTING)
    store.update_session_status(second.id, S.WAITING_CAPACITY, reason="full")
    view = store.scheduling_view()
    assert [s.id for s in view.runnable] == [first.id, second.id]
    assert view.dependency_statuses == {first.id: S.QUEUED}
    assert [t.id for t in view.targets] == [target.id]
    assert view.loads == {target.id: 1}
    assert (view.live_workers, view.live_managers) == (1, 1)


def test_an_empty_store_has_an_empty_view(store):
    view = store.scheduling_view()
    assert (view.runnable, view.dependency_statuses, view.targets, view.loads) == ([], {}, [], {})
    assert (view.live_workers, view.live_managers) == (0, 0)


def test_placements_are_claimed_in_order_with_the_checks_of_one_claim(store):
    target = make_target(store, capacity=2)
    draining = make_target(store, "draining")
    store.set_target_status(draining.id, TargetStatus.DRAINING)
    objective, manager = store.create_objective(title="t", prompt="p", agent="fake")
    workers = [make_worker(store, objective.id) for _ in range(4)]
    store.update_session_status(workers[3].id, S.CANCELED)
    outcomes = store.claim_placements(
        [
            Placement(session_id=manager.id, target_id=target.id, slot=False),
            Placement(session_id=workers[0].id, target_id=target.id),
            Placement(session_id=workers[0].id, target_id=target.id),
            Placement(session_id=workers[1].id, target_id=target.id),
            Placement(session_id=workers[2].id, target_id=target.id),
            Placement(session_id=workers[2].id, target_id=draining.id),
            Placement(session_id=workers[3].id, target_id=target.id),
            Placement(session_id="ses_missing", target_id=target.id),
            Placement(session_id=workers[2].id, target_id="tgt_missing"),
        ]
    )
    assert outcomes == [
        SlotClaim.CLAIMED,
        SlotClaim.CLAIMED,
        SlotClaim.ALREADY_HELD,
        SlotClaim.CLAIMED,
        SlotClaim.FULL,
        SlotClaim.TARGET_UNAVAILABLE,
        SlotClaim.SESSION_ENDED,
        SlotClaim.SESSION_ENDED,
        SlotClaim.TARGET_UNAVAILABLE,
    ]
    assert store.target_loads() == {target.id: 2}  # the manager holds no slot
    assert store.get_session(manager.id).target_id == target.id
    assert store.get_session(workers[1].id).target_id == target.id
    assert store.get_session(workers[2].id).target_id is None


def test_a_conflict_claims_nothing_of_the_batch(store):
    first, second = make_target(store, "a"), make_target(store, "b")
    objective, _ = store.create_objective(title="t", prompt="p", agent="fake")
    held, fresh = make_worker(store, objective.id), make_worker(store, objective.id)
    store.claim_target_slot(first.id, held.id)
    with pytest.raises(ConflictError):
        store.claim_placements(
            [
                Placement(session_id=fresh.id, target_id=second.id),
                Placement(session_id=held.id, target_id=second.id),  # it holds a slot on the first target
            ]
        )
    assert store.target_loads() == {first.id: 1}
    assert store.get_session(fresh.id).target_id is None


def test_racing_batches_never_exceed_capacity(db_path):
    """Four threads, each with its own connection, claim batches for the same target: capacity holds."""
    with Store(db_path) as setup:
        target = setup.create_target(
            name="box", kind=TargetKind.LOCAL, work_root="/w", capacity_sessions=5, status=TargetStatus.ONLINE
        )
        objective, _ = setup.create_objective(title="race", prompt="p", agent="fake")
        batches = [
            [setup.create_session(objective_id=objective.id, agent="fake", prompt="p").id for _ in range(4)]
            for _ in range(4)
        ]
    outcomes: list[SlotClaim] = []
    errors: list[BaseException] = []
    start = threading.Barrier(len(batches))

    def claimer(sessions: list[str]) -> None:
        try:
            with Store(db_path) as store:
                start.wait()
                found = store.claim_placements([Placement(session_id=s, target_id=target.id) for s in sessions])
                outcomes.extend(found)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=claimer, args=(batch,)) for batch in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sorted(outcomes).count(SlotClaim.CLAIMED) == 5
    assert outcomes.count(SlotClaim.FULL) == 11
    with Store(db_path, readonly=True) as store:
        assert store.target_loads() == {target.id: 5}
        view = store.scheduling_view()
        assert view.loads == {target.id: 5}  # claimed, still queued (their actors move them)
        assert [s.role for s in view.runnable].count(SessionRole.WORKER) == 16


# --- the team news' one call at a worker's end ---------------------------------------------------------------


def test_a_team_notice_is_stored_for_an_active_objective_with_the_count_of_live_workers(store):
    objective, manager = store.create_objective(title="t", prompt="p", agent="fake")
    workers = [make_worker(store, objective.id) for _ in range(3)]
    for status in (S.STARTING, S.RUNNING, S.COMPLETED):
        store.update_session_status(workers[0].id, status)
    store.update_session_status(manager.id, S.STARTING)  # managers are not counted
    notice, live = store.add_team_notice(objective.id, "worker_completed", "w0 completed")
    assert notice is not None and live == 2
    assert [(n.id, n.text) for n in store.pending_notices(objective.id)] == [(notice, "w0 completed")]
    for worker in workers[1:]:
        store.update_session_status(worker.id, S.CANCELED)
    second, live = store.add_team_notice(objective.id, "worker_canceled", "w2 canceled")
    assert second is not None and second > notice and live == 0


def test_a_managers_wake_reads_its_notices_live_workers_and_open_questions_of_its_objective_only(store):
    objective, manager = store.create_objective(title="t", prompt="p", agent="fake")
    other, _ = store.create_objective(title="o", prompt="p", agent="fake")
    workers = [make_worker(store, objective.id) for _ in range(3)]
    make_worker(store, other.id)
    store.update_session_status(workers[1].id, S.CANCELED)
    store.update_session_status(workers[2].id, S.STARTING)
    asked = store.ask_question(objective_id=objective.id, text="which way?", asked_by=workers[0].id)
    answered = store.ask_question(objective_id=objective.id, text="done?")
    store.close_question(answered.id, QuestionStatus.ANSWERED, answer="yes")
    store.ask_question(objective_id=other.id, text="elsewhere")
    notice, _ = store.add_team_notice(objective.id, "worker_canceled", "w1 canceled")
    store.add_team_notice(other.id, "worker_canceled", "not ours")
    wake = store.manager_wake(objective.id)
    assert [(n.id, n.text) for n in wake.notices] == [(notice, "w1 canceled")]
    assert wake.notices == store.pending_notices(objective.id)
    assert wake.live_workers == [workers[0].id, workers[2].id]  # oldest first; not the manager, not the ended
    assert wake.open_questions == [asked.id]
    store.mark_notices_delivered([notice], session_id=manager.id)
    assert store.manager_wake(objective.id).notices == []


def test_no_notice_is_stored_once_the_objective_has_ended_and_a_missing_one_is_refused(store):
    from orcha.errors import NotFoundError
    from orcha.model import ObjectiveStatus

    objective, _ = store.create_objective(title="t", prompt="p", agent="fake")
    make_worker(store, objective.id)
    store.finish_objective(objective.id, ObjectiveStatus.CANCELED)
    assert store.add_team_notice(objective.id, "worker_completed", "late") == (None, 1)
    assert store.pending_notices(objective.id) == []
    with pytest.raises(NotFoundError):
        store.add_team_notice("obj_missing", "k", "t")


def test_concurrent_team_notices_each_get_their_own_id(db_path):
    with Store(db_path) as setup:
        objective, _ = setup.create_objective(title="t", prompt="p", agent="fake")
    ids: list[int | None] = []
    start = threading.Barrier(4)

    def notifier(n: int) -> None:
        with Store(db_path) as store:
            start.wait()
            for k in range(10):
                ids.append(store.add_team_notice(objective.id, "k", f"{n}-{k}")[0])

    threads = [threading.Thread(target=notifier, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert None not in ids and len(set(ids)) == 40
    with Store(db_path, readonly=True) as store:
        assert len(store.pending_notices(objective.id)) == 40


def test_a_move_can_record_the_mode_and_agent_it_runs_with(store):
    from orcha.model import SessionMode

    objective, _ = store.create_objective(title="t", prompt="p", agent="fake")
    worker = make_worker(store, objective.id)
    store.update_session_status(worker.id, S.STARTING)
    running = store.update_session_status(worker.id, S.RUNNING, mode=SessionMode.NONINTERACTIVE, agent="other")
    assert (running.status, running.mode, running.agent) == (S.RUNNING, SessionMode.NONINTERACTIVE, "other")
    kinds = [e.kind for e in store.events_after(0, session_id=worker.id)]
    assert kinds[-2:] == ["session_status", "session_fields"]
    kept = store.update_session_status(worker.id, S.WAITING_INPUT)
    assert (kept.mode, kept.agent) == (SessionMode.NONINTERACTIVE, "other")
    from orcha.errors import InvalidTransitionError

    with pytest.raises(InvalidTransitionError):  # refused: nothing of it is written
        store.update_session_status(worker.id, S.QUEUED, agent="third")
    assert store.get_session(worker.id).agent == "other"


def test_a_move_asked_only_while_the_objective_is_active_is_refused_after_its_end(store):
    from orcha.errors import ObjectiveEndedError
    from orcha.model import ObjectiveStatus

    objective, _ = store.create_objective(title="t", prompt="p", agent="fake")
    worker = make_worker(store, objective.id)
    store.update_session_status(worker.id, S.STARTING)
    running = store.update_session_status(worker.id, S.RUNNING, only_if_objective_active=True, agent="other")
    assert running.status is S.RUNNING
    store.finish_objective(objective.id, ObjectiveStatus.DONE)
    with pytest.raises(ObjectiveEndedError, match="is done"):
        store.update_session_status(worker.id, S.COMPLETED, only_if_objective_active=True, mode=None, agent="x")
    after = store.get_session(worker.id)
    assert (after.status, after.agent) == (S.RUNNING, "other")  # nothing written
    assert store.update_session_status(worker.id, S.CANCELED).status is S.CANCELED  # without: as before


def test_a_straight_start_writes_both_moves_at_once_and_nothing_once_the_objective_has_ended(store):
    from orcha.errors import ObjectiveEndedError
    from orcha.model import ObjectiveStatus, SessionMode

    objective, _ = store.create_objective(title="t", prompt="p", agent="fake")
    worker, late = make_worker(store, objective.id), make_worker(store, objective.id)
    store.update_session_status(worker.id, S.WAITING_CAPACITY, reason="full")
    running = store.start_running(worker.id, reason="placed on t", mode=SessionMode.NONINTERACTIVE, agent="other")
    assert (running.status, running.mode, running.agent) == (S.RUNNING, SessionMode.NONINTERACTIVE, "other")
    assert running.started_at is not None and running == store.get_session(worker.id)
    moves = [e for e in store.events_after(0, session_id=worker.id) if e.kind == "session_status"]
    assert [(e.data["old"], e.data["new"]) for e in moves] == [
        ("queued", "waiting_capacity"),
        ("waiting_capacity", "starting"),
        ("starting", "running"),
    ]
    assert moves[1].ts == moves[2].ts  # one transaction
    store.finish_objective(objective.id, ObjectiveStatus.CANCELED)
    before = len(store.events_after(0, session_id=late.id))
    with pytest.raises(ObjectiveEndedError):
        store.start_running(late.id, reason="placed on t", mode=SessionMode.INTERACTIVE, agent="fake")
    assert store.get_session(late.id).status is S.QUEUED and len(store.events_after(0, session_id=late.id)) == before


def test_a_start_with_the_mode_and_agent_the_session_has_writes_no_fields(store):
    from orcha.model import SessionMode

    objective, _ = store.create_objective(title="t", prompt="p", agent="fake")
    same = store.create_session(objective_id=objective.id, agent="fake", prompt="w", mode=SessionMode.NONINTERACTIVE)
    changed = store.create_session(objective_id=objective.id, agent="fake", prompt="w", mode=SessionMode.NONINTERACTIVE)
    kept = store.start_running(same.id, reason="placed", mode=SessionMode.NONINTERACTIVE, agent="fake")
    moved = store.start_running(changed.id, reason="placed", mode=SessionMode.INTERACTIVE, agent="fake")
    assert kept == store.get_session(same.id) and moved == store.get_session(changed.id)
    assert (moved.mode, moved.agent) == (SessionMode.INTERACTIVE, "fake")
    fields = {
        sid: [e.data for e in store.events_after(0, session_id=sid) if e.kind == "session_fields"]
        for sid in (same.id, changed.id)
    }
    assert fields == {same.id: [], changed.id: [{"mode": "interactive"}]}  # only what changed, told once


def test_a_paged_view_holds_every_queued_session_and_manager_and_the_oldest_waiting_workers(store):
    make_target(store, capacity=3)
    objective, manager = store.create_objective(title="t", prompt="p", agent="fake")
    store.update_session_status(manager.id, S.WAITING_CAPACITY, reason="managers' cap")
    waiting = [make_worker(store, objective.id) for _ in range(4)]
    for worker in waiting:
        store.update_session_status(worker.id, S.WAITING_CAPACITY, reason="full")
    queued = make_worker(store, objective.id)
    whole = store.scheduling_view()
    assert [s.id for s in whole.runnable] == [manager.id, *(w.id for w in waiting), queued.id]
    assert whole.left_out_after is None
    paged = store.scheduling_view(waiting_workers=2)
    assert [s.id for s in paged.runnable] == [manager.id, waiting[0].id, waiting[1].id, queued.id]
    assert paged.left_out_after == 3  # the first left out (waiting[2]) came after the manager and two workers
    exact = store.scheduling_view(waiting_workers=4)
    assert [s.id for s in exact.runnable] == [s.id for s in whole.runnable] and exact.left_out_after is None
