"""Publishing a PR tells the truth: one PR per branch whatever the concurrency, and a failed publish fails."""

from __future__ import annotations

import os

import pytest
import trio

from orcha.agents.fake import Call, Complete, Edit, EndTurn, Wait
from orcha.agents.scripts import default_script
from orcha.agents.tools import ToolOutcome
from orcha.forge import FakeForge
from orcha.io.git_forge import GitForge
from orcha.io.local_executor import LocalExecutor
from orcha.model import SessionRole, SessionStatus
from tests.actors.harness import fake, running, store_of, wait_until
from tests.gitfixtures import FAKE_GH, Origin, git

S = SessionStatus
REPO = "local/project"  # the orchestrator's default repo, for objectives without one


def team(worker_steps=None):
    """A manager that plans and then waits for news; workers run ``worker_steps`` (default: the real script)."""

    def scripts(request):
        if request.role is SessionRole.MANAGER:
            return [EndTurn("planned")]
        if worker_steps is None or "pr_" in request.prompt:  # follow-ups run the real script
            return default_script(request)
        return worker_steps

    return scripts


def told(provider, session_id: str) -> list[str]:
    return [r.text for r in provider.received if r.session_id == session_id and r.action in ("send", "resume")]


async def _until(check, within: float = 3600, step: float = 0.25) -> None:
    async def ok() -> bool:
        return check()

    await wait_until(ok, within=within, step=step)


async def publish_in_parallel(tools, n: int = 4) -> list[ToolOutcome]:
    outcomes: list[ToolOutcome | None] = [None] * n

    async def one(i: int) -> None:
        outcomes[i] = await tools.call("publish_pr", {"title": "the change", "body": f"call {i}"})

    async with trio.open_nursery() as nursery:
        for i in range(n):
            nursery.start_soon(one, i)
    return [o for o in outcomes if o is not None]


async def test_four_parallel_publishes_of_one_branch_make_one_pr(tmp_path, autojump_clock):
    forge = FakeForge(latency=1.0)  # a forge takes time: the calls overlap
    async with running(tmp_path, providers={"claude": fake(team([Wait(100_000)]))}, forge=forge) as orch:
        store = store_of(orch)
        objective, _ = await orch.operations.create_objective(title="t", prompt="p", agent="claude")
        worker = await orch.operations.spawn_session(objective.id, prompt="part one")
        await _until(lambda: store.get_session(worker.id).status is S.RUNNING)

        outcomes = await publish_in_parallel(orch.tools_for(worker.id))

        assert [o.is_error for o in outcomes] == [False] * 4, [o.text for o in outcomes]
        [pr] = store.list_pull_requests(objective_id=objective.id)
        assert [p.url for p in forge.prs()] == [pr.url]
        assert {o.data["pr_id"] for o in outcomes} == {pr.id}
        assert sorted(o.data["how"] for o in outcomes) == ["existing", "existing", "existing", "opened"]
        assert store.list_locks() == []  # the branch lock was handed on, then released

        again = await orch.tools_for(worker.id).call("publish_pr", {"title": "once more"})
        assert (again.is_error, again.data["pr_id"], again.data["how"]) == (False, pr.id, "existing")
        assert len(forge.prs()) == 1
        await orch.operations.cancel_session(worker.id, "test over")


async def test_a_pr_already_open_at_the_forge_for_the_branch_is_adopted(tmp_path, autojump_clock):
    forge = FakeForge()
    async with running(tmp_path, providers={"claude": fake(team([Wait(100_000)]))}, forge=forge) as orch:
        store = store_of(orch)
        objective, _ = await orch.operations.create_objective(title="t", prompt="p", agent="claude")
        worker = await orch.operations.spawn_session(objective.id, prompt="part one")
        await _until(lambda: store.get_session(worker.id).status is S.RUNNING)
        by_hand = forge.open_directly(repo=REPO, branch=f"orcha/{worker.id}")

        outcome = await orch.tools_for(worker.id).call("publish_pr", {"title": "the change"})

        assert not outcome.is_error, outcome.text
        assert outcome.data["how"] == "adopted" and by_hand.url in outcome.text
        [pr] = store.list_pull_requests(objective_id=objective.id)
        assert (pr.url, pr.number, pr.session_id) == (by_hand.url, by_hand.number, worker.id)
        [now] = forge.prs()  # no second PR; the publish pushed a new head to the adopted one
        assert now.url == by_hand.url and now.head_sha == pr.head_sha != by_hand.head_sha
        await orch.operations.cancel_session(worker.id, "test over")


@pytest.mark.parametrize("failing", ["push", "find_open_pr", "open_pr"])
async def test_a_failed_publish_fails_the_worker_and_the_manager_hears_it(tmp_path, autojump_clock, failing):
    forge = FakeForge()
    forge.fail(failing, "cannot run 'gh': No such file or directory")
    provider = fake(team())
    async with running(tmp_path, providers={"claude": provider}, forge=forge) as orch:
        store = store_of(orch)
        objective, manager = await orch.operations.create_objective(title="t", prompt="p", agent="claude")
        worker = await orch.operations.spawn_session(objective.id, prompt="Part 1 of: t.")
        await _until(lambda: store.get_session(worker.id).status.is_terminal)

        ended = store.get_session(worker.id)
        assert ended.status is S.FAILED, ended.status_reason
        assert "could not publish the PR" in (ended.status_reason or "")
        assert "cannot run 'gh'" in (ended.status_reason or "")
        assert store.list_pull_requests(objective_id=objective.id) == []
        results = [e.body for e in store.read_transcript(worker.id).items if e.kind == "tool_result"]
        assert any(r.startswith("publish_pr failed, no pull request was opened:") for r in results), results
        await _until(lambda: any(f"Worker {worker.id} failed" in t for t in told(provider, manager.id)))
        news = "\n".join(told(provider, manager.id))
        assert "cannot run 'gh'" in news and "opened PR" not in news


@pytest.fixture
def gh_state(tmp_path, monkeypatch):
    state = tmp_path / "gh.json"
    monkeypatch.setenv("FAKE_GH_STATE", str(state))
    return state


async def _real_until(check, within: float = 60) -> None:
    with trio.fail_after(within):
        while not check():  # noqa: ASYNC110 - polling the store is the point
            await trio.sleep(0.05)


async def test_without_gh_a_real_publish_fails_clearly_and_pushes_nothing(tmp_path, gh_state, monkeypatch):
    monkeypatch.setenv("ORCHA_GH", str(tmp_path / "no-such-dir" / "gh"))
    origin = Origin(tmp_path)
    forge = GitForge(local=LocalExecutor())
    provider = fake(team())
    async with running(tmp_path, providers={"claude": provider}, forge=forge) as orch:
        store = store_of(orch)
        objective, manager = await orch.operations.create_objective(
            title="t", prompt="p", agent="claude", repo=str(origin.path)
        )
        worker = await orch.operations.spawn_session(objective.id, prompt="Part 1 of: t.")
        await _real_until(lambda: store.get_session(worker.id).status.is_terminal)

        ended = store.get_session(worker.id)
        assert ended.status is S.FAILED, ended.status_reason
        reason = ended.status_reason or ""
        assert "could not publish the PR" in reason and "cannot run" in reason and "no-such-dir" in reason
        assert store.list_pull_requests(objective_id=objective.id) == []
        assert git("--git-dir", str(origin.path), "branch", "--list", f"orcha/{worker.id}") == ""
        await _real_until(lambda: any(f"Worker {worker.id} failed" in t for t in told(provider, manager.id)))


async def test_four_parallel_real_publishes_with_uncommitted_changes_make_one_commit_and_one_pr(tmp_path, gh_state):
    origin = Origin(tmp_path)
    forge = GitForge(local=LocalExecutor(), gh=str(FAKE_GH))
    steps = [Edit("src/change.py", "the change"), Wait(3600)]  # leaves its change uncommitted
    async with running(tmp_path, providers={"claude": fake(team(steps))}, forge=forge) as orch:
        store = store_of(orch)
        objective, worker = await _worker_with_an_uncommitted_edit(orch, store, origin)
        outcomes = await publish_in_parallel(orch.tools_for(worker.id))

        assert [o.is_error for o in outcomes] == [False] * 4, [o.text for o in outcomes]
        [pr] = store.list_pull_requests(objective_id=objective.id)
        assert {o.data["pr_id"] for o in outcomes} == {pr.id}
        assert pr.head_sha == origin.head(pr.branch)
        changed = git("--git-dir", str(origin.path), "show", "--name-only", "--format=", pr.branch)
        assert changed == "src/change.py"
        assert origin.parent(pr.branch) == origin.head("main")  # one commit on the base
        listed = git("--git-dir", str(origin.path), "log", "--format=%s", f"main..{pr.branch}")
        assert listed == "the change"
        await orch.operations.cancel_session(worker.id, "test over")


def _exists(root: str, relative: str) -> bool:
    return os.path.exists(os.path.join(root, relative))


async def _worker_with_an_uncommitted_edit(orch, store, origin):
    """An objective on ``origin`` and a worker whose checkout holds an uncommitted ``src/change.py``."""
    objective, _ = await orch.operations.create_objective(title="t", prompt="p", agent="claude", repo=str(origin.path))
    worker = await orch.operations.spawn_session(objective.id, prompt="part one")

    def edited() -> bool:
        session = store.get_session(worker.id)
        path = store.get_workspace(session.workspace_id).path if session.workspace_id else None
        return bool(path) and _exists(path, "src/change.py")

    await _real_until(edited)
    return objective, worker


async def test_a_publish_whose_commit_fails_names_the_step_and_git_s_words(tmp_path, gh_state):
    origin = Origin(tmp_path)
    forge = GitForge(local=LocalExecutor(), gh=str(FAKE_GH))
    steps = [Edit("src/change.py", "the change"), Wait(3600)]
    async with running(tmp_path, providers={"claude": fake(team(steps))}, forge=forge) as orch:
        store = store_of(orch)
        objective, worker = await _worker_with_an_uncommitted_edit(orch, store, origin)
        path = store.get_workspace(store.get_session(worker.id).workspace_id).path
        await trio.Path(path, ".git", "index.lock").write_text("")  # another git holds the index

        outcome = await orch.tools_for(worker.id).call("publish_pr", {"title": "the change"})

        assert outcome.is_error
        assert outcome.text.startswith("publish_pr failed, no pull request was opened: commit")
        assert "`git add -A` exited 128" in outcome.text and "a git process may have crashed" in outcome.text
        assert store.list_pull_requests(objective_id=objective.id) == []
        await orch.operations.cancel_session(worker.id, "test over")


async def test_a_follow_up_whose_update_fails_fails(tmp_path, autojump_clock):
    forge = FakeForge()
    worker_steps = [Call("publish_pr", {"title": "feature"}), Complete("PR published")]
    provider = fake(team(worker_steps))
    async with running(tmp_path, providers={"claude": provider}, forge=forge) as orch:
        store = store_of(orch)
        objective, _ = await orch.operations.create_objective(title="t", prompt="p", agent="claude")
        worker = await orch.operations.spawn_session(objective.id, prompt="part one")
        await _until(lambda: store.get_session(worker.id).status is S.COMPLETED)
        [pr] = store.list_pull_requests(objective_id=objective.id)
        forge.fail("push", "the forge is down")
        forge.add_feedback(pr.url, author="rev", body="rename it")
        await orch.pr_monitor.poll_once()
        follow_up = next(s for s in store.list_sessions(objective_id=objective.id) if pr.id in s.prompt)
        await _until(lambda: store.get_session(follow_up.id).status.is_terminal)

        ended = store.get_session(follow_up.id)
        assert ended.status is S.FAILED
        assert "could not push the update" in (ended.status_reason or "")
        assert "the forge is down" in (ended.status_reason or "")
