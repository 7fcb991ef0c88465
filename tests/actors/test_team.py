"""The fake team end to end: a manager, two workers, two PRs, and review feedback on one of them."""

from __future__ import annotations

from orcha.agents.fake import AwaitTeam, Call, Complete, Edit, Say, Wait
from orcha.agents.scripts import default_script
from orcha.forge import FakeForge
from orcha.model import ObjectiveStatus, PRState, SessionRole, SessionStatus
from tests.actors.harness import fake, running, store_of, wait_until


async def test_an_objective_whose_manager_opens_two_independent_prs(tmp_path, autojump_clock):
    forge = FakeForge()
    async with running(tmp_path, forge=forge) as orch:
        store = store_of(orch)
        objective, manager = await orch.operations.create_objective(
            title="Port subsystem to Rust", prompt="...", agent="claude"
        )

        async def done() -> bool:
            return store.get_objective(objective.id).status is ObjectiveStatus.DONE

        await wait_until(done)
        sessions = store.list_sessions(objective_id=objective.id)
        workers = [s for s in sessions if s.role is SessionRole.WORKER]
        assert len(workers) == 2
        assert all(w.status is SessionStatus.COMPLETED for w in workers)
        assert all(w.parent_session_id == manager.id for w in workers)
        assert store.get_session(manager.id).status is SessionStatus.COMPLETED
        prs = store.list_pull_requests(objective_id=objective.id)
        assert sorted(p.session_id for p in prs) == sorted(w.id for w in workers)
        assert len({p.branch for p in prs}) == 2
        assert {p.url for p in prs} == {p.url for p in forge.prs()}
        summary = store.get_objective(objective.id).summary or ""
        assert summary.startswith("Workers: 2 completed. PRs: #")  # the store's facts first
        assert "#1 (open)" in summary and "#2 (open)" in summary
        assert "team finished: 2 completed; 2 PR(s)" in summary  # and the manager reports what it heard
        assert store.list_notes(objective.id)
        assert all(w.usage.model_calls > 0 and w.usage.cost_usd > 0 for w in workers)
        assert store.target_loads() == {}


def _feedback_script(request):
    if request.role is SessionRole.MANAGER:
        return [
            Call("spawn_session", {"prompt": "fast part"}),
            Call("spawn_session", {"prompt": "slow part"}),
            AwaitTeam(poll_seconds=1),
            Complete("waiting for review"),
        ]
    if request.prompt == "slow part":
        return [Say("slow work"), Wait(500), Call("publish_pr", {"title": "slow"}), Complete()]
    return default_script(request)


async def test_pr_feedback_spawns_a_follow_up_while_another_worker_runs(tmp_path, autojump_clock):
    forge = FakeForge()
    async with running(tmp_path, forge=forge, providers={"claude": fake(_feedback_script)}) as orch:
        store = store_of(orch)
        objective, _ = await orch.operations.create_objective(title="t", prompt="p", agent="claude")

        async def first_pr() -> bool:
            return len(store.list_pull_requests(objective_id=objective.id)) == 1

        await wait_until(first_pr)
        pr = store.list_pull_requests(objective_id=objective.id)[0]
        head_before = forge.prs()[0].head_sha
        forge.add_feedback(pr.url, author="reviewer", body="Please rename foo to bar.", kind="changes_requested")
        assert await orch.pr_monitor.poll_once() == 1

        sessions = store.list_sessions(objective_id=objective.id)
        slow = next(s for s in sessions if s.prompt == "slow part")
        follow_up = next(s for s in sessions if pr.id in s.prompt)
        assert slow.status is SessionStatus.RUNNING
        assert follow_up.parent_session_id == pr.session_id
        assert "rename foo to bar" in follow_up.prompt

        async def followed_up() -> bool:
            return store.get_session(follow_up.id).status is SessionStatus.COMPLETED

        await wait_until(followed_up)
        assert store.get_session(slow.id).status is SessionStatus.RUNNING
        assert forge.prs()[0].head_sha != head_before
        assert store.get_pull_request(pr.id).head_sha == forge.prs()[0].head_sha
        assert forge.comments_on(pr.url) == ["Addressed the review feedback."]
        assert await orch.pr_monitor.poll_once() == 0  # the same comment never spawns twice
        assert [f.follow_up_session_id for f in store.list_pr_feedback(pr.id)] == [follow_up.id]
        assert store.get_pull_request(pr.id).state is PRState.OPEN


async def test_feedback_is_not_spawned_again_after_a_restart(tmp_path, autojump_clock):
    forge = FakeForge()
    providers = {"claude": fake(_feedback_script)}
    async with running(tmp_path, forge=forge, providers=providers) as orch:
        store = store_of(orch)
        objective, _ = await orch.operations.create_objective(title="t", prompt="p", agent="claude")

        async def first_pr() -> bool:
            return len(store.list_pull_requests(objective_id=objective.id)) == 1

        await wait_until(first_pr)
        pr = store.list_pull_requests(objective_id=objective.id)[0]
        forge.add_feedback(pr.url, author="reviewer", body="nit")
        assert await orch.pr_monitor.poll_once() == 1
    async with running(tmp_path, forge=forge, providers=providers) as orch:
        assert await orch.pr_monitor.poll_once() == 0
        assert len(store_of(orch).list_pr_feedback(pr.id)) == 1


async def test_a_worker_edit_shows_in_its_transcript(tmp_path, autojump_clock):
    script = [Say("hello"), Edit("a.py", "wrote a.py"), Complete("bye")]
    async with running(
        tmp_path, providers={"claude": fake(lambda r: script if r.role is SessionRole.WORKER else [Wait(10_000)])}
    ) as orch:
        store = store_of(orch)
        objective, _ = await orch.operations.create_objective(title="t", prompt="p", agent="claude")
        worker = await orch.operations.spawn_session(objective.id, prompt="w")

        async def completed() -> bool:
            return store.get_session(worker.id).status is SessionStatus.COMPLETED

        await wait_until(completed)
        kinds = [(e.kind, e.body) for e in store.read_transcript(worker.id).items]
        assert ("text", "hello") in kinds
        assert any(k == "tool_call" and "a.py" in b for k, b in kinds)
        assert ("tool_result", "wrote a.py") in kinds


async def test_an_objective_s_summary_says_what_the_store_says_not_what_the_manager_claims(tmp_path, autojump_clock):
    forge = FakeForge()
    forge.fail("push", "cannot run 'gh': No such file or directory")
    async with running(tmp_path, forge=forge) as orch:
        store = store_of(orch)
        objective, _ = await orch.operations.create_objective(title="Port it", prompt="...", agent="claude")

        async def done() -> bool:
            return store.get_objective(objective.id).status is ObjectiveStatus.DONE

        await wait_until(done)
        summary = store.get_objective(objective.id).summary or ""
        assert summary.startswith("Workers: 2 failed. PRs: none.")
        assert "team finished: 2 failed; 0 PR(s)" in summary  # the fake manager reports failures as failures
        assert store.list_pull_requests(objective_id=objective.id) == []


async def test_the_demo_question_never_blocks_the_demo_the_manager_withdraws_it_with_the_reason(
    tmp_path, autojump_clock
):
    async with running(tmp_path) as orch:
        store = store_of(orch)
        objective, manager = await orch.operations.create_objective(title="Port it", prompt="...", agent="claude")

        async def done() -> bool:
            return store.get_objective(objective.id).status is ObjectiveStatus.DONE

        await wait_until(done)  # nobody answered the manager's question
        [question] = store.list_questions(objective_id=objective.id)
        assert question.asked_by == manager.id and str(question.status) == "dismissed"
        assert question.answer == "withdrawn: the team finished without an answer"


async def test_an_answer_that_comes_while_the_team_works_is_passed_on_to_the_workers(tmp_path, autojump_clock):
    from orcha.model import QuestionStatus, TranscriptKind

    async with running(tmp_path) as orch:
        store = store_of(orch)
        objective, _manager = await orch.operations.create_objective(title="Port it", prompt="...", agent="claude")

        async def asked() -> bool:
            return bool(store.list_questions(status=QuestionStatus.OPEN, objective_id=objective.id))

        await wait_until(asked, step=0.05)
        [question] = store.list_questions(status=QuestionStatus.OPEN, objective_id=objective.id)
        await orch.operations.answer_question(question.id, "MIT, please")

        async def done() -> bool:
            return store.get_objective(objective.id).status is ObjectiveStatus.DONE

        await wait_until(done)
        workers = [s for s in store.list_sessions(objective_id=objective.id) if s.role is SessionRole.WORKER]
        assert len(workers) == 2 and all(w.status is SessionStatus.COMPLETED for w in workers)
        for worker in workers:
            told = [e.body for e in store.read_transcript(worker.id).items if e.kind is TranscriptKind.USER]
            assert "From your manager: The user answered your question" in " ".join(told), told
        assert str(store.get_question(question.id).status) == "answered"


def _waiting_manager_script(request):
    """A manager that ends its turn to wait for its team (woken by the team's notices), not one that polls."""
    if request.role is SessionRole.MANAGER:
        return [
            Call("spawn_session", {"prompt": "fast part"}),
            Call("spawn_session", {"prompt": "slow part"}),
            AwaitTeam(poll_seconds=None),
            Call("mark_objective_done", {"summary": "{team}"}),
            Complete("objective done"),
        ]
    if request.prompt == "slow part":
        return [Say("slow work"), Wait(500), Complete("slow done")]
    return [Say("fast work"), Complete("fast done")]


async def test_a_manager_waiting_for_its_team_ends_its_turn_and_goes_on_when_woken(tmp_path, autojump_clock):
    provider = fake(_waiting_manager_script)
    async with running(tmp_path, providers={"claude": provider}) as orch:
        store = store_of(orch)
        objective, manager = await orch.operations.create_objective(title="t", prompt="p", agent="claude")

        async def fast_done_and_manager_waiting() -> bool:
            sessions = store.list_sessions(objective_id=objective.id)
            fast = [s for s in sessions if s.prompt == "fast part"]
            return (
                bool(fast)
                and fast[0].status is SessionStatus.COMPLETED
                and store.get_session(manager.id).status is SessionStatus.WAITING_INPUT
            )

        await wait_until(fast_done_and_manager_waiting)
        bodies = [e.body for e in store.read_transcript(manager.id).items]
        assert any("Waiting for my team (1 still at work)." in b for b in bodies)  # looked again when woken
        slow = next(s for s in store.list_sessions(objective_id=objective.id) if s.prompt == "slow part")
        assert store.get_session(slow.id).status is SessionStatus.RUNNING
        turns_while_slow_works = len(provider.actions("send", manager.id))
        await orch.operations.steer(manager.id, "Mind the tests.")  # a message from the user: passed on

        async def passed_on() -> bool:
            return any("From your manager: Mind the tests." in r.text for r in provider.actions("send", slow.id))

        await wait_until(passed_on)

        async def done() -> bool:
            return store.get_objective(objective.id).status is ObjectiveStatus.DONE

        await wait_until(done)
        objective_after = store.get_objective(objective.id)
        assert "team finished: 2 completed; 0 PR(s)" in (objective_after.summary or "")
        # one turn per wake (the fast worker's end, the message, the team's end): the manager never polled
        # through the slow worker's 500 s
        sends = provider.actions("send", manager.id)
        assert turns_while_slow_works <= 2 and len(sends) <= turns_while_slow_works + 3
        assert store.get_session(manager.id).status is SessionStatus.COMPLETED
