"""The manager hears its team (virtual clock, fake agents): every kind of news, batched, ordered, once."""

from __future__ import annotations

import pytest
import trio

from orcha.actors.orchestrator import OrchestratorConfig
from orcha.actors.session_manager import NUDGE
from orcha.agents.fake import Ask, Call, Complete, EndTurn, Say, Wait
from orcha.forge import FakeForge
from orcha.model import ObjectiveStatus, QuestionStatus, SessionRole, SessionStatus
from tests.actors.harness import fake, running, store_of, wait_until

S = SessionStatus


def team(manager_steps, workers):
    def scripts(request):
        if request.role is SessionRole.MANAGER:
            return manager_steps
        return workers.get(request.prompt, [Wait(10_000)])

    return scripts


def told(provider, session_id: str) -> list[str]:
    """What the manager's agent was sent after its first prompt (new turns in its process, or resumes)."""
    return [r.text for r in provider.received if r.session_id == session_id and r.action in ("send", "resume")]


async def _until(check, within=3600):
    async def ok() -> bool:
        return check()

    await wait_until(ok, within=within)


@pytest.mark.parametrize("interactive", [True, False])
async def test_the_manager_hears_every_kind_of_news_and_the_team_finishing(tmp_path, autojump_clock, interactive):
    workers = {
        "finisher": [Say("working"), Wait(10), Call("publish_pr", {"title": "feature"}), Complete("all tests pass")],
        "asker": [Wait(20), Ask("Which database?"), Complete("used sqlite")],
        "breaker": [Wait(30), Complete("could not build", failed=True)],
        "idler": [Wait(10_000)],
    }
    provider = fake(team([EndTurn("planned")], workers), interactive=interactive)
    forge = FakeForge()
    async with running(tmp_path, providers={"claude": provider}, forge=forge) as orch:
        store = store_of(orch)
        objective, manager = await orch.operations.create_objective(title="t", prompt="p", agent="claude")
        ids = {name: (await orch.operations.spawn_session(objective.id, prompt=name)).id for name in workers}
        await _until(lambda: store.get_session(manager.id).status is S.WAITING_INPUT)
        await _until(lambda: store.get_session(ids["breaker"]).status is S.FAILED)
        [question] = store.list_questions(status=QuestionStatus.OPEN)
        await orch.operations.answer_question(question.id, "sqlite")
        [pr] = store.list_pull_requests()
        forge.add_feedback(pr.url, author="rev", body="rename it")
        await orch.pr_monitor.poll_once()
        follow_up = next(s for s in store.list_sessions(objective_id=objective.id) if pr.id in s.prompt)
        await _until(lambda: store.get_session(ids["asker"]).status is S.COMPLETED)
        await orch.operations.cancel_session(ids["idler"], "not needed any more")
        await orch.operations.cancel_session(follow_up.id, "enough")
        await _until(lambda: any("team has finished" in t for t in told(provider, manager.id)))

        news = "\n".join(told(provider, manager.id))
        for expected in (
            f"Worker {ids['finisher']} completed: all tests pass",
            f"Worker {ids['finisher']} opened PR #1",
            f"Worker {ids['asker']} asked the user ({question.id}): Which database?",
            f"The user answered {question.id} (asked by {ids['asker']}): sqlite",
            f"Worker {ids['breaker']} failed: could not build",
            "PR #1 received 1 review comment(s)",
            f"Worker {ids['idler']} was canceled: not needed any more",
            "Your team has finished (",
            "PRs: #1 https://forge.example/local/project/pull/1 (open)",
        ):
            assert expected in news, expected
        assert news.index("completed: all tests pass") < news.index("failed: could not build")  # in order
        mode = "send" if interactive else "resume"
        assert {r.action for r in provider.received if r.session_id == manager.id and r.action != "cancel"} >= {mode}
        assert store.get_objective(objective.id).status is ObjectiveStatus.ACTIVE  # only the manager ends it


async def test_news_arriving_during_a_busy_turn_comes_in_one_turn_in_order(tmp_path, autojump_clock):
    workers = {"one": [Wait(5), Complete("first done")], "two": [Wait(10), Complete("second done")],
               "three": [Wait(15), Complete("third done")]}  # fmt: skip
    provider = fake(team([Wait(100), EndTurn("busy turn over")], workers))
    async with running(tmp_path, providers={"claude": provider}) as orch:
        store = store_of(orch)
        objective, manager = await orch.operations.create_objective(title="t", prompt="p", agent="claude")
        for name in workers:
            await orch.operations.spawn_session(objective.id, prompt=name)
        await _until(lambda: len(told(provider, manager.id)) >= 1)
        [batch] = told(provider, manager.id)[:1]
        assert trio.current_time() >= 100  # delivered when the busy turn ended, not before
        lines = batch.splitlines()
        assert lines[0] == "Updates from your team, in order:"
        assert len([line for line in lines if " completed: " in line]) == 3  # all three, in this one turn
        assert batch.index("first done") < batch.index("second done") < batch.index("third done")
        assert "team has finished" in lines[-1]
        assert store.pending_notices(objective.id) == []
        assert len(told(provider, manager.id)) == 1  # nothing was delivered twice


async def test_a_manager_with_live_workers_waits_and_says_so(tmp_path, autojump_clock):
    provider = fake(team([EndTurn("spawned")], {"long": [Wait(5000), Complete("ok")]}))
    async with running(tmp_path, providers={"claude": provider}) as orch:
        store = store_of(orch)
        objective, manager = await orch.operations.create_objective(title="t", prompt="p", agent="claude")
        worker = await orch.operations.spawn_session(objective.id, prompt="long")
        await _until(lambda: "waiting for its team" in (store.get_session(manager.id).status_reason or ""))
        session = store.get_session(manager.id)
        assert session.status is S.WAITING_INPUT and worker.id in session.status_reason
        row = next(r for r in store.dashboard().sessions if r.id == manager.id)
        assert row.live_workers == 1 and "waiting for its team" in row.waiting_for


async def test_notices_stored_before_a_restart_are_delivered_once_after_it(tmp_path, autojump_clock):
    provider = fake(team([Wait(10_000), EndTurn("x")], {}))
    async with running(tmp_path, providers={"claude": provider}) as orch:
        store = store_of(orch)
        objective, manager = await orch.operations.create_objective(title="t", prompt="p", agent="claude")
        await _until(lambda: store.get_session(manager.id).status is S.RUNNING)
        await orch.news.notify(objective.id, "test", "first stored notice")
        await orch.news.notify(objective.id, "test", "second stored notice")
        assert len(store.pending_notices(objective.id)) == 2  # stored, not yet delivered (the manager is busy)
    async with running(tmp_path, providers={"claude": provider}) as orch:
        store = store_of(orch)
        await _until(lambda: bool(provider.actions("resume", manager.id)))
        await trio.sleep(20_000)
        texts = told(provider, manager.id)
        assert sum(t.count("first stored notice") for t in texts) == 1
        assert sum(t.count("second stored notice") for t in texts) == 1
        assert texts[0].index("first stored notice") < texts[0].index("second stored notice")
        assert store.pending_notices(objective.id) == []


async def test_a_stalled_manager_is_nudged_once_then_the_user_is_asked(tmp_path, autojump_clock):
    config = OrchestratorConfig(manager_idle_seconds=300, pr_poll_interval=3600)
    provider = fake(team([EndTurn("")], {}))
    async with running(tmp_path, providers={"claude": provider}, config=config) as orch:
        store = store_of(orch)
        objective, manager = await orch.operations.create_objective(title="t", prompt="p", agent="claude")
        await _until(lambda: store.get_session(manager.id).status is S.WAITING_INPUT)
        started = trio.current_time()
        await _until(lambda: told(provider, manager.id) == [NUDGE])
        assert 300 <= trio.current_time() - started < 310
        await _until(lambda: bool(store.list_questions(status=QuestionStatus.OPEN)))
        assert 600 <= trio.current_time() - started < 620
        [question] = store.list_questions(status=QuestionStatus.OPEN)
        assert "seems stalled" in question.text and question.asked_by == manager.id
        await trio.sleep(5000)
        assert told(provider, manager.id) == [NUDGE]  # nudged once
        assert len(store.list_questions()) == 1  # asked once
        assert store.get_objective(objective.id).status is ObjectiveStatus.ACTIVE  # never ends by itself
        await orch.operations.answer_question(question.id, "wrap it up")
        await _until(lambda: "wrap it up" in told(provider, manager.id)[-1])
