"""Session actors on a virtual clock: steering, cancellation, loop guards, exhaustion, dependencies, capacity."""

from __future__ import annotations

import pytest
import trio

from orcha.actors.orchestrator import LocalTarget, OrchestratorConfig
from orcha.agents.fake import Complete, EndTurn, Exhaust, Fail, Say, Wait
from orcha.errors import InvalidTransitionError
from orcha.guards import GuardConfig
from orcha.model import QuestionStatus, SessionMode, SessionRole, SessionStatus, TargetStatus
from tests.actors.harness import EPOCH, fake, running, store_of, wait_until

S = SessionStatus


def idle_manager(worker_steps):
    """A manager that idles for a long time, and workers that run ``worker_steps``."""

    def scripts(request):
        if request.role is SessionRole.MANAGER:
            return [Wait(100_000)]
        return list(worker_steps(request) if callable(worker_steps) else worker_steps)

    return scripts


async def _status_is(store, session_id, *statuses):
    async def check() -> bool:
        return store.get_session(session_id).status in statuses

    await wait_until(check)


@pytest.mark.parametrize("interactive", [True, False])
async def test_steering_follows_the_session_mode(tmp_path, autojump_clock, interactive):
    provider = fake(
        idle_manager([Say("working"), Wait(100), Say("still working"), Complete("done")]), interactive=interactive
    )
    async with running(tmp_path, providers={"claude": provider}) as orch:
        store = store_of(orch)
        objective, _ = await orch.operations.create_objective(title="t", prompt="p", agent="claude")
        worker = await orch.operations.spawn_session(objective.id, prompt="w")
        await _status_is(store, worker.id, S.RUNNING)
        await trio.sleep(10)  # inside the Wait step: mid-turn
        await orch.operations.steer(worker.id, "use the other API")
        await _status_is(store, worker.id, S.COMPLETED)

        session = store.get_session(worker.id)
        start = provider.actions("start", worker.id)[0]
        if interactive:
            assert session.mode is SessionMode.INTERACTIVE
            assert [r.text for r in provider.actions("send", worker.id)] == ["use the other API"]
            assert provider.actions("resume", worker.id) == []
        else:
            assert session.mode is SessionMode.NONINTERACTIVE
            assert provider.actions("send", worker.id) == []
            resumes = provider.actions("resume", worker.id)
            assert [(r.text, r.provider_session_id) for r in resumes] == [
                ("use the other API", start.provider_session_id)
            ]
            actions = [r.action for r in provider.received if r.session_id == worker.id]
            assert actions.index("cancel") < actions.index("resume")
        assert session.provider_session_id == start.provider_session_id
        lines = [(e.kind, e.body) for e in store.read_transcript(worker.id).items]
        assert ("user", "use the other API") in lines


async def test_steering_a_finished_session_is_refused(tmp_path, autojump_clock):
    provider = fake(idle_manager([Complete("quick")]))
    async with running(tmp_path, providers={"claude": provider}) as orch:
        store = store_of(orch)
        objective, _ = await orch.operations.create_objective(title="t", prompt="p", agent="claude")
        worker = await orch.operations.spawn_session(objective.id, prompt="w")
        await _status_is(store, worker.id, S.COMPLETED)
        with pytest.raises(InvalidTransitionError):
            await orch.operations.steer(worker.id, "too late")
        with pytest.raises(InvalidTransitionError):
            await orch.operations.cancel_session(worker.id)


async def test_cancel_during_a_turn_wins_over_a_late_completion(tmp_path, autojump_clock):
    provider = fake(idle_manager([Say("starting"), Wait(1000), Complete("finished")]), late_completion=True)
    async with running(tmp_path, providers={"claude": provider}) as orch:
        store = store_of(orch)
        objective, _ = await orch.operations.create_objective(title="t", prompt="p", agent="claude")
        worker = await orch.operations.spawn_session(objective.id, prompt="w")
        await _status_is(store, worker.id, S.RUNNING)
        await trio.sleep(5)
        canceled = await orch.operations.cancel_session(worker.id, "not needed any more")
        assert canceled.status is S.CANCELED
        assert canceled.status_reason == "not needed any more"
        assert [r.action for r in provider.received if r.session_id == worker.id] == ["start", "cancel"]
        await trio.sleep(2000)
        assert store.get_session(worker.id).status is S.CANCELED
        kinds = [e.kind for e in store.events_after(0, session_id=worker.id)]
        assert "late_completion_dropped" in kinds
        assert store.target_loads().get(store.get_session(worker.id).target_id, 0) <= 1  # only the manager


async def _trip_and_answer(tmp_path, worker_steps, guards, expect_in_reason, *, then=None):
    provider = fake(idle_manager(worker_steps))
    config = OrchestratorConfig(guards=guards, pr_poll_interval=3600)
    async with running(tmp_path, providers={"claude": provider}, config=config) as orch:
        store = store_of(orch)
        objective, _ = await orch.operations.create_objective(title="t", prompt="p", agent="claude")
        worker = await orch.operations.spawn_session(objective.id, prompt="w")
        await _status_is(store, worker.id, S.PAUSED)
        paused = store.get_session(worker.id)
        assert expect_in_reason in (paused.pause_reason or "")
        [question] = [q for q in store.list_questions(status=QuestionStatus.OPEN) if q.asked_by == worker.id]
        assert expect_in_reason in question.text
        await orch.operations.answer_question(question.id, "carry on, differently")
        await _status_is(store, worker.id, S.COMPLETED, S.WAITING_INPUT)
        assert store.get_session(worker.id).pause_reason is None
        received = [r.text for r in provider.received if r.session_id == worker.id and r.action in ("send", "resume")]
        assert "carry on, differently" in received
        if then is not None:
            then(store.get_session(worker.id))


async def test_the_same_error_guard_pauses_asks_and_resumes(tmp_path, autojump_clock):
    await _trip_and_answer(
        tmp_path, [Fail("E: disk full")] * 3 + [Complete("ok")], GuardConfig(same_error_limit=3), "same error 3 times"
    )


async def test_the_no_progress_time_guard_pauses_asks_and_resumes(tmp_path, autojump_clock):
    await _trip_and_answer(
        tmp_path,
        [Say("thinking"), Wait(10_000), Complete("ok")],
        GuardConfig(no_progress_seconds=60),
        "no progress for 60 seconds",
    )


async def test_the_no_progress_turns_guard_pauses_asks_and_resumes(tmp_path, autojump_clock):
    steps = [EndTurn(""), EndTurn(""), EndTurn(""), Say("progress at last"), Complete("ok")]

    def scripts(request):
        return steps if request.role is SessionRole.MANAGER else [Complete()]

    provider = fake(scripts)
    config = OrchestratorConfig(guards=GuardConfig(no_progress_turns=3), pr_poll_interval=3600)
    async with running(tmp_path, providers={"claude": provider}, config=config) as orch:
        store = store_of(orch)
        _objective, manager = await orch.operations.create_objective(title="t", prompt="p", agent="claude")
        for n in range(2):
            await _status_is(store, manager.id, S.WAITING_INPUT)
            await orch.operations.steer(manager.id, f"nudge {n}")
        await _status_is(store, manager.id, S.PAUSED)
        assert "no progress in 3 turns" in store.get_session(manager.id).pause_reason
        [question] = store.list_questions(status=QuestionStatus.OPEN)
        await orch.operations.answer_question(question.id, "go")
        await _status_is(store, manager.id, S.WAITING_INPUT)
        texts = [e.body for e in store.read_transcript(manager.id).items]
        assert "progress at last" in texts


async def test_the_model_call_cap_pauses_asks_and_resumes(tmp_path, autojump_clock):
    def counted(session):
        assert session.usage.model_calls == 8

    await _trip_and_answer(
        tmp_path,
        [Say(f"step {n}") for n in range(7)] + [Complete("ok")],
        GuardConfig(max_model_calls=5),
        "cap of 5 model calls",
        then=counted,
    )


def _exhausting(resets_in):
    def scripts(request):
        if request.role is SessionRole.MANAGER:
            return [Wait(100_000)]
        return [
            Say("working"),
            Exhaust("You've hit your limit", resets_in=resets_in),
            Say("after the reset"),
            Complete("done"),
        ]

    return scripts


async def test_exhaustion_falls_back_to_the_next_provider(tmp_path, autojump_clock):
    claude = fake(_exhausting(3600), name="claude")
    codex = fake(idle_manager([Say("codex here"), Complete("done by codex")]), name="codex", interactive=False)
    async with running(
        tmp_path, providers={"claude": claude, "codex": codex}, fallback_order=("claude", "codex")
    ) as orch:
        store = store_of(orch)
        objective, manager = await orch.operations.create_objective(title="t", prompt="p", agent="codex")
        worker = await orch.operations.spawn_session(objective.id, prompt="w", agent="claude")
        await _status_is(store, worker.id, S.COMPLETED)
        session = store.get_session(worker.id)
        assert session.agent == "codex"
        assert len(claude.actions("start")) == 1
        assert [r.session_id for r in codex.actions("start")] == [manager.id, worker.id]
        assert any(e.kind == "provider_fallback" for e in store.events_after(0, session_id=worker.id))
        assert store.provider_limits()[0][0] == "claude"


async def test_with_no_provider_left_the_session_parks_asks_and_resumes_at_the_reset(tmp_path, autojump_clock):
    claude = fake(_exhausting(3600))
    async with running(tmp_path, providers={"claude": claude}) as orch:
        store = store_of(orch)
        objective, _ = await orch.operations.create_objective(title="t", prompt="p", agent="claude")
        worker = await orch.operations.spawn_session(objective.id, prompt="w")
        await _status_is(store, worker.id, S.PAUSED)
        assert "out of quota" in store.get_session(worker.id).pause_reason
        [question] = [q for q in store.list_questions(status=QuestionStatus.OPEN) if q.asked_by == worker.id]
        second = await orch.operations.spawn_session(objective.id, prompt="w2")
        await trio.sleep(1800)
        starts_before_reset = [r.session_id for r in claude.actions("start")]
        assert worker.id in starts_before_reset and second.id not in starts_before_reset
        assert store.get_session(second.id).status in (S.QUEUED, S.WAITING_CAPACITY)
        await _status_is(store, worker.id, S.COMPLETED)
        assert trio.current_time() >= 3600 - 10
        assert [r.action for r in claude.received if r.session_id == worker.id][:3] == ["start", "cancel", "resume"]
        closed = store.get_question(question.id)
        assert closed.status is QuestionStatus.DISMISSED
        assert "reset" in (closed.answer or "")
        await _status_is(store, second.id, S.PAUSED, S.COMPLETED)  # the second one runs after the reset


async def test_the_users_answer_lets_a_parked_session_retry_before_the_reset(tmp_path, autojump_clock):
    claude = fake(_exhausting(None))
    async with running(tmp_path, providers={"claude": claude}) as orch:
        store = store_of(orch)
        objective, _ = await orch.operations.create_objective(title="t", prompt="p", agent="claude")
        worker = await orch.operations.spawn_session(objective.id, prompt="w")
        await _status_is(store, worker.id, S.PAUSED)
        await trio.sleep(10_000)
        assert len(claude.actions("start", worker.id)) == 1
        assert claude.actions("resume", worker.id) == []
        [question] = [q for q in store.list_questions(status=QuestionStatus.OPEN) if q.asked_by == worker.id]
        await orch.operations.answer_question(question.id, "I topped up the account")
        await _status_is(store, worker.id, S.COMPLETED)
        assert [r.text for r in claude.actions("resume", worker.id)] == ["I topped up the account"]
        assert store.provider_limits() == []


async def test_a_failed_dependency_cancels_its_dependents(tmp_path, autojump_clock):
    def scripts(request):
        if request.role is SessionRole.MANAGER:
            return [Wait(100_000)]
        return [Complete("broken", failed=True)] if request.prompt == "first" else [Complete("ok")]

    async with running(tmp_path, providers={"claude": fake(scripts)}) as orch:
        store = store_of(orch)
        objective, _ = await orch.operations.create_objective(title="t", prompt="p", agent="claude")
        first = await orch.operations.spawn_session(objective.id, prompt="first")
        second = await orch.operations.spawn_session(objective.id, prompt="second", depends_on=(first.id,))
        third = await orch.operations.spawn_session(objective.id, prompt="third", depends_on=(second.id,))
        await _status_is(store, third.id, S.CANCELED)
        assert store.get_session(first.id).status is S.FAILED
        assert store.get_session(second.id).status is S.CANCELED
        assert first.id in store.get_session(second.id).status_reason
        assert second.id in store.get_session(third.id).status_reason


async def test_fifty_sessions_never_exceed_a_capacity_of_three(tmp_path, autojump_clock):
    config = OrchestratorConfig(
        local_target=LocalTarget(capacity_sessions=3), max_concurrent=100, pr_poll_interval=3600
    )
    provider = fake(idle_manager([Say("work"), Wait(7), Complete("ok")]))
    most = 0
    async with running(tmp_path, providers={"claude": provider}, config=config) as orch:
        store = store_of(orch)
        objective, _manager = await orch.operations.create_objective(title="t", prompt="p", agent="claude")
        workers = [await orch.operations.spawn_session(objective.id, prompt=f"w{n}") for n in range(50)]

        async def all_done() -> bool:
            nonlocal most
            most = max(most, sum(store.target_loads().values()))
            live = store.count_sessions([S.STARTING, S.RUNNING, S.WAITING_INPUT, S.PAUSED], role=SessionRole.WORKER)
            most = max(most, live)
            return all(store.get_session(w.id).status is S.COMPLETED for w in workers)

        await wait_until(all_done, step=0.5)
        assert most == 3  # the workers share the three slots; the manager holds none
        claimed = [e for e in store.events_after(0, limit=100_000) if e.kind == "slot_claimed"]
        assert len(claimed) == 50
        assert max(e.data["load"] for e in claimed) == 3


async def test_a_draining_target_takes_no_session(tmp_path, autojump_clock):
    provider = fake(idle_manager([Complete("ok")]))
    async with running(tmp_path, providers={"claude": provider}) as orch:
        store = store_of(orch)
        [local] = store.list_targets()
        from orcha.actors.messages import Drain, Enable

        await orch.operations.target_request(local.id, Drain())
        _objective, manager = await orch.operations.create_objective(title="t", prompt="p", agent="claude")
        await trio.sleep(600)
        assert store.get_session(manager.id).status is S.WAITING_CAPACITY
        assert store.target_loads() == {}
        reply = await orch.operations.target_request(local.id, Enable())
        assert reply.target.status is TargetStatus.ONLINE
        await _status_is(store, manager.id, S.RUNNING)


async def test_a_crashing_session_actor_fails_its_session_and_spares_its_siblings(tmp_path, autojump_clock):
    def scripts(request):
        if request.prompt == "explode":
            raise RuntimeError("the agent binary segfaulted")
        if request.role is SessionRole.MANAGER:
            return [Wait(100_000)]
        return [Say("fine"), Wait(30), Complete("ok")]

    async with running(tmp_path, providers={"claude": fake(scripts)}) as orch:
        store = store_of(orch)
        objective, _ = await orch.operations.create_objective(title="t", prompt="p", agent="claude")
        sibling = await orch.operations.spawn_session(objective.id, prompt="steady")
        bomb = await orch.operations.spawn_session(objective.id, prompt="explode")
        await _status_is(store, bomb.id, S.FAILED)
        assert "RuntimeError: the agent binary segfaulted" in store.get_session(bomb.id).status_reason
        assert any(e.kind == "actor_crashed" for e in store.events_after(0, session_id=bomb.id))
        await _status_is(store, sibling.id, S.COMPLETED)


async def test_after_a_restart_live_sessions_are_requeued_and_resume_their_conversation(tmp_path, autojump_clock):
    provider = fake(idle_manager([Wait(10_000)]))
    async with running(tmp_path, providers={"claude": provider}) as orch:
        store = store_of(orch)
        _, manager = await orch.operations.create_objective(title="t", prompt="p", agent="claude")
        await _status_is(store, manager.id, S.RUNNING)
        psid = store.get_session(manager.id).provider_session_id
    async with running(tmp_path, providers={"claude": provider}) as orch:
        store = store_of(orch)

        async def resumed() -> bool:
            return bool(provider.actions("resume", manager.id))

        await wait_until(resumed)
        assert store.get_session(manager.id).status in (S.RUNNING, S.WAITING_INPUT)
        [resume] = provider.actions("resume", manager.id)
        assert resume.provider_session_id == psid and "restarted" in resume.text
        assert store.target_loads() == {}  # a manager holds no slot, and no stale one is left
        reasons = [
            e.data.get("reason") for e in store.events_after(0, session_id=manager.id) if e.kind == "session_status"
        ]
        assert "orcha restarted while it ran" in reasons


async def test_the_clock_starts_at_the_epoch(autojump_clock):
    from tests.actors.harness import wall_clock

    assert wall_clock() == pytest.approx(EPOCH + trio.current_time())


async def test_new_work_wakes_the_scheduler_at_once(tmp_path, autojump_clock):
    config = OrchestratorConfig(schedule_interval=3600, pr_poll_interval=3600)
    async with running(tmp_path, providers={"claude": fake(idle_manager([Complete("ok")]))}, config=config) as orch:
        store = store_of(orch)
        await trio.sleep(100)  # the idle tick is an hour away
        started = trio.current_time()
        objective, manager = await orch.operations.create_objective(title="t", prompt="p", agent="claude")
        await _status_is(store, manager.id, S.RUNNING)
        worker = await orch.operations.spawn_session(objective.id, prompt="w")
        await _status_is(store, worker.id, S.COMPLETED)
        assert trio.current_time() - started < 5


async def test_one_writer_per_workspace_the_second_session_waits_for_the_first(tmp_path, autojump_clock):
    from orcha.model import LockKind, WorkspaceKind

    provider = fake(idle_manager([Say("writing"), Wait(50), Complete("ok")]))
    async with running(tmp_path, providers={"claude": provider}) as orch:
        store = store_of(orch)
        objective, _ = await orch.operations.create_objective(title="t", prompt="p", agent="claude")
        scratch = store.create_workspace(objective_id=objective.id, kind=WorkspaceKind.SHARED_SCRATCH)
        first = store.create_session(objective_id=objective.id, agent="claude", prompt="a", workspace_id=scratch.id)
        second = store.create_session(objective_id=objective.id, agent="claude", prompt="b", workspace_id=scratch.id)
        orch.scheduler.wake()
        await _status_is(store, first.id, S.RUNNING)
        await trio.sleep(20)
        assert store.get_session(second.id).status is S.QUEUED
        assert store.lock_holder(LockKind.WORKSPACE, scratch.id) == first.id
        await _status_is(store, second.id, S.RUNNING)
        assert store.get_session(first.id).status is S.COMPLETED
        assert store.lock_holder(LockKind.WORKSPACE, scratch.id) == second.id
        await _status_is(store, second.id, S.COMPLETED)
        assert store.lock_holder(LockKind.WORKSPACE, scratch.id) is None


def _doctor_finding(*agents: str):
    from orcha.doctor import Check, DoctorReport

    async def doctor(target, *, on_check=None):
        return DoctorReport(checks=(Check(name="work_root", ok=True),), agents=agents)

    return doctor


async def test_a_fallback_goes_only_to_a_provider_the_target_s_doctor_found(tmp_path, autojump_clock):
    """codex is registered but not installed on the machine: the exhausted session parks and asks; it never
    fails with "cannot run 'codex'"."""
    claude = fake(_exhausting(3600), name="claude")
    codex = fake(idle_manager([Complete("done by codex")]), name="codex", interactive=False)
    async with running(
        tmp_path,
        providers={"claude": claude, "codex": codex},
        fallback_order=("claude", "codex"),
        doctor=_doctor_finding("claude"),
    ) as orch:
        store = store_of(orch)
        objective, _ = await orch.operations.create_objective(title="t", prompt="p", agent="claude")
        worker = await orch.operations.spawn_session(objective.id, prompt="w", agent="claude")
        await _status_is(store, worker.id, S.PAUSED)
        assert store.get_session(worker.id).agent == "claude" and not codex.actions("start", worker.id)
        [question] = [q for q in store.list_questions(status=QuestionStatus.OPEN) if q.asked_by == worker.id]
        assert "out of quota" in question.text
        await trio.sleep(1800)
        await _status_is(store, worker.id, S.COMPLETED)  # it resumes by itself at the reset
        assert store.get_session(worker.id).agent == "claude"


async def test_a_parked_session_switches_to_the_agent_the_user_names(tmp_path, autojump_clock):
    claude = fake(_exhausting(None), name="claude")  # no reset time: only the user can move it
    codex = fake(idle_manager([Say("codex takes over"), Complete("done by codex")]), name="codex", interactive=False)
    async with running(tmp_path, providers={"claude": claude, "codex": codex}, fallback_order=()) as orch:
        store = store_of(orch)
        objective, _ = await orch.operations.create_objective(title="t", prompt="p", agent="codex")
        worker = await orch.operations.spawn_session(objective.id, prompt="w", agent="claude")
        await _status_is(store, worker.id, S.PAUSED)
        [question] = [q for q in store.list_questions(status=QuestionStatus.OPEN) if q.asked_by == worker.id]
        assert "'wait'" in question.text and "codex" in question.text
        await orch.operations.answer_question(question.id, "codex, please")
        await _status_is(store, worker.id, S.COMPLETED)
        assert store.get_session(worker.id).agent == "codex" and codex.actions("start", worker.id)


async def test_with_services_held_no_session_starts_until_they_start(tmp_path, autojump_clock):
    """``orcha serve`` holds the scheduler until its web server listens: a session started before would have
    no MCP endpoint (its agent could call no tool)."""
    async with running(tmp_path, hold_services=True) as orch:
        _, manager = await orch.operations.create_objective(title="t", prompt="p", agent="claude")
        await trio.sleep(120)  # many ticks' worth, were the scheduler running
        assert (await orch.db.run(lambda s: s.get_session(manager.id))).status is SessionStatus.QUEUED
        orch.start_services()
        orch.start_services()  # (once: a second call starts nothing more)

        async def started() -> bool:
            return (await orch.db.run(lambda s: s.get_session(manager.id))).status is not SessionStatus.QUEUED

        await wait_until(started)
