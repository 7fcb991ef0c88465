"""Eight OS threads, eight connections, one database file: a capacity of 3 is never exceeded."""

from __future__ import annotations

import threading

from orcha.io.store import SlotClaim, Store
from orcha.model import TargetKind, TargetStatus

THREADS = 8
CLAIMS = 1000
CAPACITY = 3


def test_racing_slot_claims_never_exceed_capacity(db_path):
    with Store(db_path) as setup:
        target = setup.create_target(
            name="box", kind=TargetKind.LOCAL, work_root="/w", capacity_sessions=CAPACITY, status=TargetStatus.ONLINE
        )
        objective, _ = setup.create_objective(title="race", prompt="p", agent="fake")
        sessions = [
            setup.create_session(objective_id=objective.id, agent="fake", prompt="p").id for _ in range(THREADS)
        ]

    held = 0
    most_held = 0
    most_observed = 0
    outcomes: list[SlotClaim] = []
    errors: list[BaseException] = []
    guard = threading.Lock()
    racing = threading.Event()
    start = threading.Barrier(THREADS + 1)

    def claimer(session_id: str, attempts: int) -> None:
        nonlocal held, most_held
        try:
            with Store(db_path) as store:
                start.wait()
                for _ in range(attempts):
                    outcome = store.claim_target_slot(target.id, session_id)
                    with guard:
                        outcomes.append(outcome)
                    if outcome is not SlotClaim.CLAIMED:
                        continue
                    with guard:  # counted after the claim commits, uncounted before the release
                        held += 1
                        most_held = max(most_held, held)
                    assert store.target_loads()[target.id] <= CAPACITY  # hold the slot for a read's time
                    with guard:
                        held -= 1
                    assert store.release_target_slot(session_id)
        except BaseException as exc:
            errors.append(exc)

    def observer() -> None:
        nonlocal most_observed
        with Store(db_path, readonly=True) as store:
            start.wait()
            while racing.is_set():
                most_observed = max(most_observed, store.target_loads().get(target.id, 0))

    racing.set()
    per_thread = CLAIMS // THREADS
    threads = [threading.Thread(target=claimer, args=(sid, per_thread)) for sid in sessions]
    watcher = threading.Thread(target=observer)
    for thread in threads:
        thread.start()
    watcher.start()
    for thread in threads:
        thread.join(timeout=120)
    racing.clear()
    watcher.join(timeout=30)

    assert errors == []
    assert len(outcomes) == CLAIMS
    granted = outcomes.count(SlotClaim.CLAIMED)
    assert granted > 0
    assert set(outcomes) <= {SlotClaim.CLAIMED, SlotClaim.FULL}
    assert most_held <= CAPACITY
    assert most_observed <= CAPACITY
    with Store(db_path) as store:
        assert store.target_loads() == {}
        claimed_events = [e for e in store.events_after(0, limit=100_000) if e.kind == "slot_claimed"]
        assert len(claimed_events) == granted
        assert max(e.data["load"] for e in claimed_events) <= CAPACITY
