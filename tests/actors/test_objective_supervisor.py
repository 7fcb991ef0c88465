"""Every objective moves or asks: a live manager, or an open question to the user saying why not."""

from __future__ import annotations

import pytest

from orcha.agents.fake import Ask, Call, Complete, Say, Wait
from orcha.errors import InvalidTransitionError
from orcha.model import ObjectiveStatus, QuestionStatus, SessionRole, SessionStatus
from tests.actors.harness import fake, running, store_of, wait_until

S = SessionStatus


def _managers(store, objective_id):
    return sorted(
        (s for s in store.list_sessions(objective_id=objective_id) if s.role is SessionRole.MANAGER),
        key=lambda s: s.created_at,
    )


def _scripted_manager(steps):
    def scripts(request):
        return steps if request.role is SessionRole.MANAGER else [Complete("ok")]

    return scripts


async def test_a_failed_manager_is_restarted_through_its_provider_s_resume(tmp_path, autojump_clock):
    provider = fake(
        _scripted_manager([Say("planning"), Complete("crashed mid-plan", failed=True), Say("back"), Wait(3600)])
    )
    async with running(tmp_path, providers={"claude": provider}) as orch:
        store = store_of(orch)
        objective, first = await orch.operations.create_objective(title="t", prompt="p", agent="claude")

        async def restarted() -> bool:
            managers = _managers(store, objective.id)
            return len(managers) == 2 and managers[1].status is S.RUNNING

        await wait_until(restarted)
        failed, second = _managers(store, objective.id)
        assert failed.id == first.id and failed.status is S.FAILED and "crashed mid-plan" in failed.status_reason
        [resume] = provider.actions("resume", second.id)
        assert resume.provider_session_id == failed.provider_session_id  # the conversation goes on
        assert "failed" in resume.text and first.id in resume.text  # and it hears why it was restarted

        async def went_on() -> bool:
            return any(e.body == "back" for e in store.read_transcript(second.id).items)

        await wait_until(went_on)
        assert store.list_questions(status=QuestionStatus.OPEN) == []
        assert store.get_objective(objective.id).status is ObjectiveStatus.ACTIVE


async def test_a_manager_that_keeps_failing_ends_in_a_question_and_the_answer_starts_a_new_one(
    tmp_path, autojump_clock
):
    steps = [Complete(f"boom {n}", failed=True) for n in range(3)] + [Say("listening"), Wait(3600)]
    provider = fake(_scripted_manager(steps))
    async with running(tmp_path, providers={"claude": provider}) as orch:
        store = store_of(orch)
        objective, _ = await orch.operations.create_objective(title="t", prompt="p", agent="claude")

        async def asked() -> bool:
            return bool(store.list_questions(status=QuestionStatus.OPEN, objective_id=objective.id))

        await wait_until(asked)
        managers = _managers(store, objective.id)
        assert [m.status for m in managers] == [S.FAILED] * 3  # the first and two restarts; then no silent stall
        [question] = store.list_questions(status=QuestionStatus.OPEN, objective_id=objective.id)
        assert "failed again" in question.text and "boom 2" in question.text and question.asked_by is None
        await orch.operations.answer_question(question.id, "try a smaller first step")

        async def resumed_again() -> bool:
            live = [m for m in _managers(store, objective.id) if m.status is S.RUNNING]
            return len(live) == 1 and bool(provider.actions("resume", live[0].id))

        await wait_until(resumed_again)
        [newest] = [m for m in _managers(store, objective.id) if m.status is S.RUNNING]
        [resume] = provider.actions("resume", newest.id)
        assert "try a smaller first step" in resume.text


async def test_a_canceled_manager_leaves_a_question_not_a_silent_stall(tmp_path, autojump_clock):
    provider = fake(_scripted_manager([Say("planning"), Wait(3600)]))
    async with running(tmp_path, providers={"claude": provider}) as orch:
        store = store_of(orch)
        objective, manager = await orch.operations.create_objective(title="t", prompt="p", agent="claude")

        async def is_running() -> bool:
            return store.get_session(manager.id).status is S.RUNNING

        await wait_until(is_running)
        await orch.operations.cancel_session(manager.id, "the user stopped it")

        async def asked() -> bool:
            return bool(store.list_questions(status=QuestionStatus.OPEN, objective_id=objective.id))

        await wait_until(asked, within=5)  # the objective hears at once (virtual seconds)
        [question] = store.list_questions(status=QuestionStatus.OPEN, objective_id=objective.id)
        assert "was canceled" in question.text and "the user stopped it" in question.text
        assert store.get_objective(objective.id).status is ObjectiveStatus.ACTIVE


async def test_a_manager_may_not_cancel_itself(tmp_path, autojump_clock):
    def scripts(request):
        if request.role is SessionRole.MANAGER:
            return [Call("cancel_session", {"session": request.session_id}), Say("still here"), Wait(3600)]
        return [Complete("ok")]

    provider = fake(scripts)
    async with running(tmp_path, providers={"claude": provider}) as orch:
        store = store_of(orch)
        _objective, manager = await orch.operations.create_objective(title="t", prompt="p", agent="claude")

        async def said() -> bool:
            return any(e.body == "still here" for e in store.read_transcript(manager.id).items)

        await wait_until(said)
        assert store.get_session(manager.id).status is S.RUNNING
        texts = [e.body for e in store.read_transcript(manager.id).items]
        assert any("may not cancel itself" in t for t in texts)


async def test_the_questions_of_an_ended_objective_are_closed_with_the_reason(tmp_path, autojump_clock):
    def scripts(request):
        if request.role is SessionRole.MANAGER:
            return [Ask("Which license?"), Wait(3600)]
        return [Complete("ok")]

    async with running(tmp_path, providers={"claude": fake(scripts)}) as orch:
        store = store_of(orch)
        objective, _ = await orch.operations.create_objective(title="t", prompt="p", agent="claude")

        async def asked() -> bool:
            return bool(store.list_questions(status=QuestionStatus.OPEN))

        await wait_until(asked)
        [question] = store.list_questions(status=QuestionStatus.OPEN)
        await orch.operations.cancel_objective(objective.id, "not needed")
        closed = store.get_question(question.id)
        assert closed.status is QuestionStatus.DISMISSED and "objective canceled" in (closed.answer or "")
        assert all(s.status.is_terminal for s in store.list_sessions(objective_id=objective.id))
        with pytest.raises(InvalidTransitionError):
            await orch.operations.cancel_objective(objective.id)


async def test_no_turn_starts_after_the_objective_is_done(tmp_path, autojump_clock):
    """A non-interactive (Codex-like) manager marks the objective done while a notice waits for it: it completes;
    it is not resumed for one more turn (a wasted model call) and killed a moment later."""

    def scripts(request):
        if request.role is SessionRole.MANAGER:
            return [
                Call("spawn_session", {"prompt": "quick part"}),
                Wait(30),  # the worker completes meanwhile: a notice waits for the manager
                Call("mark_objective_done", {"summary": "done"}),
                Complete("objective done"),
            ]
        return [Say("on it"), Complete("ok")]

    codex = fake(scripts, name="codex", interactive=False)
    async with running(tmp_path, providers={"codex": codex}) as orch:
        store = store_of(orch)
        objective, manager = await orch.operations.create_objective(title="t", prompt="p", agent="codex")

        async def ended() -> bool:
            return store.get_session(manager.id).status.is_terminal

        await wait_until(ended)
        assert store.get_session(manager.id).status is S.COMPLETED
        assert store.get_objective(objective.id).status is ObjectiveStatus.DONE
        assert [r.action for r in codex.received if r.session_id == manager.id] == ["start", "cancel"]
