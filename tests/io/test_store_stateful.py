"""Random sequences of store operations, with the safety invariants checked after every step."""

from __future__ import annotations

import shutil
import tempfile

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule

from orcha.errors import ConflictError, InvalidTransitionError, LockNotHeldError
from orcha.io.store import SlotClaim, Store
from orcha.model import LockKind, SessionStatus, TargetKind, TargetStatus
from orcha.scheduling import LIVE_STATUSES


class StoreMachine(RuleBasedStateMachine):
    targets = Bundle("targets")
    sessions = Bundle("sessions")

    def __init__(self) -> None:
        super().__init__()
        self.dir = tempfile.mkdtemp(prefix="orcha-stateful-")
        self.store = Store(f"{self.dir}/orcha.db")
        self.terminal: dict[str, object] = {}
        self.locks: dict[tuple[LockKind, str], str] = {}
        self.load_when_closed: dict[str, int] = {}
        self.target_count = 0

    def teardown(self) -> None:
        self.store.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    @initialize()
    def objective(self) -> None:
        self.objective_id = self.store.create_objective(title="t", prompt="p", agent="fake")[0].id

    def _loads(self) -> dict[str, int]:
        return self.store.target_loads()

    @rule(target=targets, capacity=st.integers(0, 3), online=st.booleans())
    def create_target(self, capacity: int, online: bool) -> str:
        self.target_count += 1
        status = TargetStatus.ONLINE if online else TargetStatus.OFFLINE
        target = self.store.create_target(
            name=f"t{self.target_count}",
            kind=TargetKind.LOCAL,
            work_root="/w",
            capacity_sessions=capacity,
            status=status,
        )
        if not online:
            self.load_when_closed[target.id] = 0
        return target.id

    @rule(target=sessions)
    def create_session(self) -> str:
        return self.store.create_session(objective_id=self.objective_id, agent="fake", prompt="p").id

    @rule(session=sessions, status=st.sampled_from(SessionStatus))
    def transition(self, session: str, status: SessionStatus) -> None:
        before = self.store.get_session(session)
        try:
            after = self.store.update_session_status(session, status, reason="random")
        except InvalidTransitionError:
            assert self.store.get_session(session) == before
            return
        assert after.status is status
        if status.is_terminal:
            self.terminal[session] = after
            for key in [k for k, owner in self.locks.items() if owner == session]:
                del self.locks[key]

    @rule(target_id=targets, session=sessions)
    def claim(self, target_id: str, session: str) -> None:
        target = self.store.get_target(target_id)
        load_before = self._loads().get(target_id, 0)
        try:
            outcome = self.store.claim_target_slot(target_id, session)
        except ConflictError as exc:
            assert "already holds a slot" in str(exc)
            return
        if outcome is SlotClaim.CLAIMED:
            assert target.status is TargetStatus.ONLINE
            assert load_before < target.capacity_sessions
            assert session not in self.terminal
        if target.status is not TargetStatus.ONLINE:
            assert not outcome.granted or outcome is SlotClaim.ALREADY_HELD

    @rule(session=sessions)
    def release(self, session: str) -> None:
        self.store.release_target_slot(session)

    @rule(kind=st.sampled_from(LockKind), key=st.sampled_from(["a", "b"]), owner=sessions)
    def lock(self, kind: LockKind, key: str, owner: str) -> None:
        if owner in self.terminal:
            with pytest.raises(ConflictError):
                self.store.acquire_lock(kind, key, owner)
            return
        granted = self.store.acquire_lock(kind, key, owner)
        holder = self.locks.get((kind, key))
        assert granted == (holder is None or holder == owner)
        if granted:
            self.locks[(kind, key)] = owner

    @rule(kind=st.sampled_from(LockKind), key=st.sampled_from(["a", "b"]), owner=sessions)
    def unlock(self, kind: LockKind, key: str, owner: str) -> None:
        try:
            self.store.release_lock(kind, key, owner)
        except LockNotHeldError:
            assert self.locks.get((kind, key)) != owner
            return
        assert self.locks.pop((kind, key)) == owner

    @rule(target_id=targets, status=st.sampled_from(TargetStatus))
    def target_status(self, target_id: str, status: TargetStatus) -> None:
        try:
            self.store.set_target_status(target_id, status)
        except InvalidTransitionError:
            return
        if status is TargetStatus.ONLINE:
            self.load_when_closed.pop(target_id, None)
        else:
            self.load_when_closed.setdefault(target_id, self._loads().get(target_id, 0))

    @invariant()
    def terminal_sessions_never_change(self) -> None:
        for session_id, snapshot in self.terminal.items():
            assert self.store.get_session(session_id) == snapshot

    @invariant()
    def each_lock_has_exactly_the_owner_we_granted(self) -> None:
        held = {(kind, key): owner for kind, key, owner in self.store.list_locks()}
        assert held == self.locks

    @invariant()
    def claimed_slots_never_exceed_capacity(self) -> None:
        loads = self._loads()
        for target in self.store.list_targets():
            assert loads.get(target.id, 0) <= target.capacity_sessions

    @invariant()
    def a_target_that_is_not_online_gains_no_slots(self) -> None:
        loads = self._loads()
        for target_id, load_then in self.load_when_closed.items():
            assert loads.get(target_id, 0) <= load_then
            self.load_when_closed[target_id] = loads.get(target_id, 0)

    @invariant()
    def the_kept_counts_are_the_rows_counted(self) -> None:
        """The counts the triggers keep (what a scheduler tick reads) never drift from the rows themselves."""
        conn = self.store._db.conn
        assert self._loads() == dict(conn.execute("SELECT target_id, COUNT(*) FROM target_slots GROUP BY target_id"))
        live = [str(status) for status in LIVE_STATUSES]
        rows = conn.execute(
            f"SELECT role, COUNT(*) FROM sessions WHERE status IN ({','.join('?' * len(live))}) GROUP BY role", live
        )
        view = self.store.scheduling_view()
        assert {"manager": view.live_managers, "worker": view.live_workers} == {"manager": 0, "worker": 0, **dict(rows)}

    @invariant()
    def ended_sessions_hold_no_slot_and_no_lock(self) -> None:
        owners = {owner for _, _, owner in self.store.list_locks()}
        assert not owners & set(self.terminal)
        assert not set(self.store.slot_holders()) & set(self.terminal)


StoreMachine.TestCase.settings = settings(
    max_examples=60, stateful_step_count=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
TestStore = StoreMachine.TestCase
