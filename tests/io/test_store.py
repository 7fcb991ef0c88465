"""The store: validated writes, atomic slots, row-unique locks, migrations and the audit log."""

from __future__ import annotations

import apsw
import pytest

from orcha.errors import (
    ConflictError,
    InvalidInputError,
    InvalidTransitionError,
    LockNotHeldError,
    NotFoundError,
    StoreError,
)
from orcha.io.store import SCHEMA_VERSION, SlotClaim, Store
from orcha.model import (
    Audience,
    LockKind,
    ObjectiveStatus,
    PRState,
    QuestionStatus,
    SessionRole,
    SessionStatus,
    TargetStatus,
    Usage,
    WorkspaceKind,
)
from tests.conftest import make_target, make_worker

S = SessionStatus


def _run_to(store: Store, session_id: str, *path: SessionStatus) -> None:
    for status in path:
        store.update_session_status(session_id, status)


def test_an_objective_starts_with_a_queued_manager(store):
    objective, manager = store.create_objective(title="Port to Rust", prompt="...", agent="claude")
    assert objective.status is ObjectiveStatus.ACTIVE
    assert manager.role is SessionRole.MANAGER
    assert manager.status is S.QUEUED
    assert manager.objective_id == objective.id
    assert [s.id for s in store.list_sessions(objective_id=objective.id)] == [manager.id]
    kinds = [e.kind for e in store.events_after(0, objective_id=objective.id)]
    assert kinds == ["objective_created", "session_created"]


@pytest.mark.parametrize(("field", "kwargs"), [("title", {"title": "  "}), ("agent", {"agent": ""})])
def test_an_objective_needs_a_title_and_an_agent(store, field, kwargs):
    args = {"title": "t", "prompt": "p", "agent": "claude", **kwargs}
    with pytest.raises(InvalidInputError) as info:
        store.create_objective(**args)
    assert info.value.field == field
    assert store.list_objectives() == []


def test_a_terminal_session_never_changes_again(store):
    _objective, manager = store.create_objective(title="t", prompt="p", agent="fake")
    _run_to(store, manager.id, S.STARTING, S.RUNNING, S.CANCELED)
    before = store.get_session(manager.id)
    for late in (S.COMPLETED, S.RUNNING, S.FAILED, S.QUEUED):
        with pytest.raises(InvalidTransitionError):
            store.update_session_status(manager.id, late, reason="late completion")
    after = store.get_session(manager.id)
    assert after == before
    assert after.status is S.CANCELED


def test_an_illegal_transition_writes_nothing(store):
    _, manager = store.create_objective(title="t", prompt="p", agent="fake")
    events_before = store.events_after(0)
    with pytest.raises(InvalidTransitionError):
        store.update_session_status(manager.id, S.COMPLETED)
    assert store.get_session(manager.id).status is S.QUEUED
    assert store.events_after(0) == events_before


def test_pausing_records_the_reason_and_resuming_clears_it(store):
    _, manager = store.create_objective(title="t", prompt="p", agent="fake")
    _run_to(store, manager.id, S.STARTING, S.RUNNING)
    paused = store.update_session_status(manager.id, S.PAUSED, reason="same error 3 times")
    assert paused.pause_reason == "same error 3 times"
    assert store.update_session_status(manager.id, S.RUNNING).pause_reason is None


def test_a_terminal_status_gives_back_the_slot_and_the_locks(store):
    target = make_target(store, capacity=1)
    objective, manager = store.create_objective(title="t", prompt="p", agent="fake")
    assert store.claim_target_slot(target.id, manager.id) is SlotClaim.CLAIMED
    assert store.acquire_lock(LockKind.WORKSPACE, "wsp_1", manager.id)
    _run_to(store, manager.id, S.STARTING, S.RUNNING, S.COMPLETED)
    assert store.target_loads() == {}
    assert store.lock_holder(LockKind.WORKSPACE, "wsp_1") is None
    worker = make_worker(store, objective.id)
    assert store.claim_target_slot(target.id, worker.id) is SlotClaim.CLAIMED


def test_slot_claims_respect_capacity_and_target_status(store):
    target = make_target(store, capacity=2)
    objective, manager = store.create_objective(title="t", prompt="p", agent="fake")
    workers = [make_worker(store, objective.id) for _ in range(3)]
    assert store.claim_target_slot(target.id, manager.id) is SlotClaim.CLAIMED
    assert store.claim_target_slot(target.id, manager.id) is SlotClaim.ALREADY_HELD
    assert store.claim_target_slot(target.id, workers[0].id) is SlotClaim.CLAIMED
    assert store.claim_target_slot(target.id, workers[1].id) is SlotClaim.FULL
    assert store.target_loads() == {target.id: 2}
    assert store.release_target_slot(workers[0].id)
    assert not store.release_target_slot(workers[0].id)
    store.set_target_status(target.id, TargetStatus.DRAINING)
    assert store.claim_target_slot(target.id, workers[1].id) is SlotClaim.TARGET_UNAVAILABLE
    store.set_target_status(target.id, TargetStatus.DISABLED)
    assert store.claim_target_slot(target.id, workers[2].id) is SlotClaim.TARGET_UNAVAILABLE
    assert store.target_loads() == {target.id: 1}


def test_a_session_holds_one_slot_and_an_ended_session_claims_none(store):
    first, second = make_target(store, "a"), make_target(store, "b")
    objective, manager = store.create_objective(title="t", prompt="p", agent="fake")
    store.claim_target_slot(first.id, manager.id)
    with pytest.raises(ConflictError):
        store.claim_target_slot(second.id, manager.id)
    worker = make_worker(store, objective.id)
    store.update_session_status(worker.id, S.CANCELED)
    assert store.claim_target_slot(first.id, worker.id) is SlotClaim.SESSION_ENDED


def test_locks_have_one_owner_and_only_the_owner_releases(store):
    assert store.acquire_lock(LockKind.PR_BRANCH, "feature/x", "ses_a")
    assert store.acquire_lock(LockKind.PR_BRANCH, "feature/x", "ses_a")
    assert not store.acquire_lock(LockKind.PR_BRANCH, "feature/x", "ses_b")
    assert store.acquire_lock(LockKind.WORKSPACE, "feature/x", "ses_b")
    with pytest.raises(LockNotHeldError):
        store.release_lock(LockKind.PR_BRANCH, "feature/x", "ses_b")
    assert store.lock_holder(LockKind.PR_BRANCH, "feature/x") == "ses_a"
    store.release_lock(LockKind.PR_BRANCH, "feature/x", "ses_a")
    assert store.acquire_lock(LockKind.PR_BRANCH, "feature/x", "ses_b")
    assert store.release_locks_of("ses_b", reason="owner died") == 2
    assert store.list_locks() == []
    assert any(e.kind == "locks_recovered" for e in store.events_after(0))


def test_targets_follow_their_state_machine(store):
    target = make_target(store, status=TargetStatus.OFFLINE)
    with pytest.raises(InvalidTransitionError):
        store.set_target_status(target.id, TargetStatus.DRAINING)
    assert store.set_target_status(target.id, TargetStatus.ONLINE, reason="doctor passed").status is TargetStatus.ONLINE
    with pytest.raises(ConflictError):
        make_target(store)  # same name
    with pytest.raises(InvalidInputError):
        store.set_target_capacity(target.id, -1)
    assert store.find_target("local").id == target.id
    with pytest.raises(NotFoundError):
        store.find_target("nowhere")


def test_finishing_an_objective_leaves_its_sessions_to_their_actors(store):
    objective, manager = store.create_objective(title="t", prompt="p", agent="fake")
    done_worker = make_worker(store, objective.id)
    _run_to(store, done_worker.id, S.STARTING, S.RUNNING, S.COMPLETED)
    live_worker = make_worker(store, objective.id)
    finished = store.finish_objective(objective.id, ObjectiveStatus.DONE, summary="shipped")
    assert finished.status is ObjectiveStatus.DONE
    assert finished.summary == "shipped"
    assert store.get_session(live_worker.id).status is S.QUEUED  # its actor, told by the objective, ends it
    assert store.get_session(manager.id).status is S.QUEUED
    assert store.get_session(done_worker.id).status is S.COMPLETED
    with pytest.raises(InvalidTransitionError):
        store.finish_objective(objective.id, ObjectiveStatus.CANCELED)
    with pytest.raises(ConflictError):
        make_worker(store, objective.id)


def test_dependencies_must_be_sessions_of_the_same_objective(store):
    first, _ = store.create_objective(title="a", prompt="p", agent="fake")
    _second, other_manager = store.create_objective(title="b", prompt="p", agent="fake")
    with pytest.raises(InvalidInputError) as info:
        make_worker(store, first.id, depends_on=[other_manager.id])
    assert info.value.field == "depends_on"
    dep = make_worker(store, first.id)
    dependent = make_worker(store, first.id, depends_on=[dep.id, dep.id])
    assert dependent.depends_on == (dep.id,)
    assert store.list_sessions(statuses=[S.QUEUED])[-1].depends_on == (dep.id,)


def test_unknown_ids_are_not_found(store):
    with pytest.raises(NotFoundError, match="ses_missing"):
        store.get_session("ses_missing")
    with pytest.raises(NotFoundError):
        store.update_session_status("ses_missing", S.RUNNING)
    with pytest.raises(NotFoundError):
        store.create_session(objective_id="obj_missing", agent="fake", prompt="p")
    with pytest.raises(NotFoundError):
        store.claim_target_slot("tgt_missing", "ses_missing")


def test_usage_counters_add_up_and_cost_takes_the_reported_total(store):
    _, manager = store.create_objective(title="t", prompt="p", agent="fake")
    store.add_session_usage(manager.id, Usage(model_calls=1, input_tokens=10, output_tokens=5, cost_usd=0.01))
    returned = store.add_session_usage(manager.id, Usage(model_calls=1, errors=1, input_tokens=3), cost_total_usd=0.5)
    usage = store.get_session(manager.id).usage
    assert usage == Usage(model_calls=2, errors=1, input_tokens=13, output_tokens=5, cost_usd=0.5)
    assert returned == usage  # the counters after the write, as a fresh read has them
    with pytest.raises(NotFoundError):
        store.add_session_usage("ses_missing", Usage(model_calls=1))


def test_pull_requests_feedback_is_deduplicated(store):
    objective, manager = store.create_objective(title="t", prompt="p", agent="fake")
    pr = store.create_pull_request(
        objective_id=objective.id,
        session_id=manager.id,
        url="https://f/pr/1",
        number=1,
        branch="orcha/x",
        base="main",
        head_sha="abc",
    )
    with pytest.raises(ConflictError):
        store.create_pull_request(
            objective_id=objective.id, session_id=None, url="https://f/pr/1", number=1, branch="orcha/x", base="main"
        )
    first = store.add_pr_feedback(pr_id=pr.id, external_id="c1", kind="comment", author="rev", body="nit")
    assert first is not None
    assert store.add_pr_feedback(pr_id=pr.id, external_id="c1", kind="comment", author="rev", body="nit") is None
    assert [f.external_id for f in store.list_pr_feedback(pr.id)] == ["c1"]
    merged = store.update_pull_request(pr.id, state=PRState.MERGED, head_sha="def")
    assert (merged.state, merged.head_sha) == (PRState.MERGED, "def")
    assert store.list_pull_requests(state=PRState.OPEN) == []


def test_questions_open_and_close_once(store):
    objective, manager = store.create_objective(title="t", prompt="p", agent="fake")
    question = store.ask_question(objective_id=objective.id, asked_by=manager.id, text="Which DB?")
    assert question.audience is Audience.USER
    assert store.list_questions(status=QuestionStatus.OPEN) == [question]
    with pytest.raises(InvalidInputError):
        store.close_question(question.id, QuestionStatus.ANSWERED, answer=" ")
    answered = store.close_question(question.id, QuestionStatus.ANSWERED, answer="SQLite")
    assert (answered.status, answered.answer) == (QuestionStatus.ANSWERED, "SQLite")
    with pytest.raises(ConflictError):
        store.close_question(question.id, QuestionStatus.DISMISSED)
    assert store.list_questions(status=QuestionStatus.OPEN) == []


def test_workspaces_artifacts_and_notes_belong_to_their_objective(store):
    objective, manager = store.create_objective(title="t", prompt="p", agent="fake")
    other, other_manager = store.create_objective(title="o", prompt="p", agent="fake")
    workspace = store.create_workspace(objective_id=objective.id, kind=WorkspaceKind.ISOLATED, branch="orcha/a")
    assert store.list_workspaces(objective.id) == [workspace]
    store.add_artifact(objective_id=objective.id, session_id=manager.id, name="report", uri="file:///r.md")
    store.add_note(objective_id=objective.id, session_id=None, text="remember the migration")
    with pytest.raises(InvalidInputError):
        store.add_note(objective_id=objective.id, session_id=other_manager.id, text="not mine")
    assert [a.name for a in store.list_artifacts(objective.id)] == ["report"]
    assert [n.text for n in store.list_notes(objective.id)] == ["remember the migration"]
    assert store.list_notes(other.id) == []


def test_the_schema_is_versioned_and_reopening_migrates_nothing(db_path):
    with Store(db_path) as first:
        assert first.schema_version == SCHEMA_VERSION
    with Store(db_path) as second:
        migrated = [e for e in second.events_after(0) if e.kind == "schema_migrated"]
        assert len(migrated) == 1
        assert second.connection.pragma("journal_mode") == "wal"


def test_a_database_from_a_newer_orcha_is_refused(db_path):
    Store(db_path).close()
    conn = apsw.Connection(db_path)
    conn.pragma("user_version", SCHEMA_VERSION + 1)
    conn.close()
    with pytest.raises(StoreError, match="newer"):
        Store(db_path)


def test_a_readonly_store_reads_and_refuses_writes(db_path):
    with Store(db_path) as writer:
        writer.create_objective(title="t", prompt="p", agent="fake")
    with Store(db_path, readonly=True) as reader:
        assert len(reader.list_objectives()) == 1
        with pytest.raises(StoreError):
            reader.create_objective(title="u", prompt="p", agent="fake")


def test_a_finished_session_takes_no_lock(store):
    _, manager = store.create_objective(title="t", prompt="p", agent="fake")
    store.update_session_status(manager.id, S.CANCELED)
    with pytest.raises(ConflictError, match="finished session"):
        store.acquire_lock(LockKind.WORKSPACE, "wsp_1", manager.id)
    assert store.list_locks() == []


def test_runnable_sessions_are_found_by_index_not_by_scanning_history(store):
    plan = " ".join(
        str(row)
        for row in store.connection.execute(
            "EXPLAIN QUERY PLAN SELECT id FROM sessions WHERE status IN ('queued', 'waiting_capacity')"
        )
    )
    assert "sessions_by_status" in plan


def test_a_new_database_is_private(tmp_path):
    from orcha.io.store import Store

    with Store(tmp_path / "fresh" / "orcha.db") as store:
        store.list_objectives()
    assert (tmp_path / "fresh").stat().st_mode & 0o777 == 0o700
    for name in ("orcha.db", "orcha.db-wal"):
        path = tmp_path / "fresh" / name
        if path.exists():
            assert path.stat().st_mode & 0o777 == 0o600, name


def test_a_manager_is_placed_without_a_slot_and_never_on_a_draining_target(store):
    target = make_target(store, capacity=0)
    objective, manager = store.create_objective(title="t", prompt="p", agent="fake")
    assert store.place_session(target.id, manager.id) is SlotClaim.CLAIMED
    assert store.get_session(manager.id).target_id == target.id and store.target_loads() == {}
    worker = make_worker(store, objective.id)
    store.set_target_status(target.id, TargetStatus.DRAINING)
    assert store.place_session(target.id, worker.id) is SlotClaim.TARGET_UNAVAILABLE
    assert store.count_sessions([S.QUEUED], role=SessionRole.WORKER) == 1
    assert store.count_sessions([S.QUEUED]) == 2


def test_the_team_of_an_objective_is_its_sessions_as_list_sessions_has_them_without_the_rest(store):
    objective, manager = store.create_objective(title="t", prompt="p", agent="claude")
    other, _ = store.create_objective(title="other", prompt="p", agent="claude")
    first = make_worker(store, objective.id)
    second = store.create_session(objective_id=objective.id, agent="codex", prompt="p", depends_on=[first.id])
    make_worker(store, other.id)
    _run_to(store, first.id, S.STARTING, S.RUNNING)
    store.update_session_status(first.id, S.PAUSED, reason="loop guard")
    team = store.list_team(objective.id)
    full = store.list_sessions(objective_id=objective.id)
    assert [m.id for m in team] == [s.id for s in full] == [manager.id, first.id, second.id]
    for member, session in zip(team, full, strict=True):
        for field in ("role", "agent", "status", "mode", "target_id", "depends_on", "status_reason", "pause_reason"):
            assert getattr(member, field) == getattr(session, field), field
    assert team[1].pause_reason == "loop guard" and team[2].depends_on == (first.id,)
    assert store.list_team("obj_missing") == []
