"""Real work: fresh checkouts from a real bare origin, real pushes, PRs through the fake gh, on real time."""

from __future__ import annotations

import pytest
import trio

from orcha.agents.fake import Call, Complete, Edit, Say, Wait
from orcha.agents.scripts import follow_up_script
from orcha.errors import PushRefusedError
from orcha.io.git_forge import GitForge
from orcha.io.local_executor import LocalExecutor
from orcha.model import Audience, PRState, QuestionStatus, SessionRole, SessionStatus, WorkspaceKind
from tests.actors.harness import fake, running, store_of
from tests.gitfixtures import FAKE_GH, Origin, gh, git

S = SessionStatus


def scripts(request):
    if request.role is SessionRole.MANAGER:
        return [Wait(3600)]
    if "pr_" in request.prompt:
        return follow_up_script(request, request.prompt.split("(")[1].split(",")[0])
    steps = [Say("on it"), Edit(f"src/{request.session_id}.py", "the change")]
    if request.prompt.startswith("slow"):
        steps.append(Wait(3600))
    steps.append(Call("publish_pr", {"title": request.prompt, "body": "Implements it."}))
    if request.prompt.startswith("linger"):
        steps.append(Wait(3600))  # stays alive after publishing, to update its PR
    return [*steps, Complete("PR published")]


async def until(check, within: float = 60) -> None:
    with trio.fail_after(within):
        while not check():  # noqa: ASYNC110 - polling the store is the point
            await trio.sleep(0.05)


@pytest.fixture
def gh_state(tmp_path, monkeypatch):
    state = tmp_path / "gh.json"
    monkeypatch.setenv("FAKE_GH_STATE", str(state))
    return state


async def test_two_workers_two_prs_each_branched_off_the_base_as_it_was_at_its_start(tmp_path, gh_state):
    origin = Origin(tmp_path)
    base_at_first = origin.head("main")
    forge = GitForge(local=LocalExecutor(), gh=str(FAKE_GH))
    async with running(tmp_path, providers={"claude": fake(scripts)}, forge=forge) as orch:
        store = store_of(orch)
        objective, _ = await orch.operations.create_objective(
            title="t", prompt="p", agent="claude", repo=str(origin.path), base_branch="main"
        )
        first = await orch.operations.spawn_session(objective.id, prompt="part one")
        await until(lambda: store.get_session(first.id).status is S.COMPLETED)
        base_at_second = origin.commit("CHANGELOG.md", "moved\n", "upstream moves on")
        second = await orch.operations.spawn_session(objective.id, prompt="part two")
        await until(lambda: store.get_session(second.id).status is S.COMPLETED)

        prs = {p.session_id: p for p in store.list_pull_requests(objective_id=objective.id)}
        assert set(prs) == {first.id, second.id}
        assert prs[first.id].branch == f"orcha/{first.id}" and prs[second.id].branch == f"orcha/{second.id}"
        assert origin.parent(prs[first.id].branch) == base_at_first
        assert origin.parent(prs[second.id].branch) == base_at_second
        assert prs[first.id].head_sha == origin.head(prs[first.id].branch)
        changed = git("--git-dir", str(origin.path), "show", "--name-only", "--format=", prs[second.id].branch)
        assert changed == f"src/{second.id}.py"
        workspaces = store.list_workspaces(objective.id)
        assert {w.kind for w in workspaces} == {WorkspaceKind.ISOLATED}
        assert all(w.path and w.path.startswith(str(tmp_path / "work" / "workspaces")) for w in workspaces)
        assert all(w.path.endswith(w.id) for w in workspaces)


async def test_review_feedback_spawns_a_follow_up_on_the_pr_branch_while_another_worker_runs(tmp_path, gh_state):
    origin = Origin(tmp_path)
    forge = GitForge(local=LocalExecutor(), gh=str(FAKE_GH))
    async with running(tmp_path, providers={"claude": fake(scripts)}, forge=forge) as orch:
        store = store_of(orch)
        objective, _ = await orch.operations.create_objective(
            title="t", prompt="p", agent="claude", repo=str(origin.path)
        )
        first = await orch.operations.spawn_session(objective.id, prompt="part one")
        slow = await orch.operations.spawn_session(objective.id, prompt="slow part two")
        await until(lambda: store.get_session(first.id).status is S.COMPLETED)
        [pr] = store.list_pull_requests(objective_id=objective.id)
        head_before = origin.head(pr.branch)
        gh(
            "fake-review",
            pr.url,
            "--author",
            "rev",
            "--body",
            "Please add a test.",
            "--state",
            "CHANGES_REQUESTED",
            state=gh_state,
        )

        assert await orch.pr_monitor.poll_once() == 1
        follow_up = next(s for s in store.list_sessions(objective_id=objective.id) if pr.id in s.prompt)
        await until(lambda: store.get_session(follow_up.id).status is S.COMPLETED)
        assert store.get_session(slow.id).status is S.RUNNING  # the other worker never stopped

        workspace = store.get_workspace(store.get_session(follow_up.id).workspace_id)
        assert (workspace.kind, workspace.branch) == (WorkspaceKind.PR_BRANCH, pr.branch)
        assert origin.parent(pr.branch) == head_before  # a fast-forward on PR 1's branch
        assert store.get_pull_request(pr.id).head_sha == origin.head(pr.branch)
        assert any(e.kind == "pr_pushed" and e.data["pr_id"] == pr.id for e in store.events_after(0, limit=10_000))
        assert await orch.pr_monitor.poll_once() == 0  # the same review never spawns twice
        await orch.operations.cancel_session(slow.id, "test over")


async def test_push_safety_on_the_real_forge(tmp_path, gh_state):
    origin = Origin(tmp_path)
    forge = GitForge(local=LocalExecutor(), gh=str(FAKE_GH))
    async with running(tmp_path, providers={"claude": fake(scripts)}, forge=forge) as orch:
        store = store_of(orch)
        objective, _ = await orch.operations.create_objective(
            title="t", prompt="p", agent="claude", repo=str(origin.path)
        )
        first = await orch.operations.spawn_session(objective.id, prompt="linger one")
        second = await orch.operations.spawn_session(objective.id, prompt="linger two")
        await until(lambda: len(store.list_pull_requests(objective_id=objective.id)) == 2)
        prs = {p.session_id: p for p in store.list_pull_requests(objective_id=objective.id)}
        merged, closed = prs[first.id], prs[second.id]
        workflow = orch.pull_requests

        with pytest.raises(PushRefusedError, match="reason"):
            await workflow.update(first.id, merged.id, force=True)
        recorded = await workflow.update(first.id, merged.id, force=True, reason="rebased onto main")
        assert "pushed" in recorded
        pushed = [e for e in store.events_after(0, limit=10_000) if e.kind == "pr_pushed" and e.data["force"]]
        assert pushed[-1].data["reason"] == "rebased onto main"

        gh("pr", "merge", merged.url, "--squash", state=gh_state)
        head = origin.head(merged.branch)
        with pytest.raises(PushRefusedError, match="merged"):
            await workflow.update(first.id, merged.id)
        assert origin.head(merged.branch) == head
        assert store.get_pull_request(merged.id).state is PRState.MERGED

        gh("pr", "close", closed.url, state=gh_state)
        answer = await workflow.update(second.id, closed.id)
        assert "asked the manager" in answer
        [question] = store.list_questions(status=QuestionStatus.OPEN, objective_id=objective.id)
        assert question.audience is Audience.MANAGER and closed.url in question.text


async def test_artifacts_outlive_the_workspace_and_prune_removes_finished_checkouts(tmp_path, gh_state):
    import sys

    from orcha.actors.orchestrator import LocalTarget, OrchestratorConfig

    origin = Origin(tmp_path)

    def artifact_scripts(request):
        if request.role is SessionRole.MANAGER:
            return [Wait(3600)]
        return [
            Edit("report.md", "the findings"),
            Call("record_artifact", {"name": "report", "path": "report.md"}),
            Call("record_artifact", {"name": "bad", "path": "../etc/passwd"}),
            Call("record_artifact", {"name": "design doc", "url": "https://example.com/doc"}),
            Complete("done"),
        ]

    config = OrchestratorConfig(
        local_target=LocalTarget(work_root=str(tmp_path / "work")),
        pr_poll_interval=3600,
        artifacts_root=str(tmp_path / "artifacts"),
    )
    async with running(tmp_path, providers={"claude": fake(artifact_scripts)}, config=config) as orch:
        store = store_of(orch)
        objective, _ = await orch.operations.create_objective(
            title="t", prompt="p", agent="claude", repo=str(origin.path)
        )
        worker = await orch.operations.spawn_session(objective.id, prompt="write a report")
        await until(lambda: store.get_session(worker.id).status is S.COMPLETED)
        artifacts = {a.name: a for a in store.list_artifacts(objective.id)}
        assert set(artifacts) == {"report", "design doc"}
        assert artifacts["design doc"].uri == "https://example.com/doc"
        copy = artifacts["report"].uri.removeprefix("file://")
        assert copy.startswith(str(tmp_path / "artifacts"))
        errors = [e.body for e in store.read_transcript(worker.id).items if e.kind == "error"]
        assert any("without '..'" in body for body in errors)
        [workspace] = store.list_workspaces(objective.id)
    assert (tmp_path / "work" / "workspaces" / workspace.id / "report.md").exists()
    result = await trio.run_process(
        [sys.executable, "-m", "orcha", "workspaces", "prune", "--db", str(tmp_path / "orcha.db")],
        capture_stdout=True,
        capture_stderr=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "1 workspace(s) removed" in result.stdout.decode()
    assert not (tmp_path / "work" / "workspaces" / workspace.id).exists()
    assert "the findings" in await trio.Path(copy).read_text()  # the artifact survived its workspace


async def test_the_remove_policy_deletes_a_checkout_when_its_session_ends(tmp_path, gh_state):
    from orcha.actors.orchestrator import LocalTarget, OrchestratorConfig

    origin = Origin(tmp_path)
    config = OrchestratorConfig(
        local_target=LocalTarget(work_root=str(tmp_path / "work")), pr_poll_interval=3600, workspace_cleanup="remove"
    )
    forge = GitForge(local=LocalExecutor(), gh=str(FAKE_GH))
    async with running(tmp_path, providers={"claude": fake(scripts)}, forge=forge, config=config) as orch:
        store = store_of(orch)
        objective, _ = await orch.operations.create_objective(
            title="t", prompt="p", agent="claude", repo=str(origin.path)
        )
        worker = await orch.operations.spawn_session(objective.id, prompt="part one")
        await until(
            lambda: (
                store.list_workspaces(objective.id)
                and store.list_workspaces(objective.id)[0].path is None
                and store.get_session(worker.id).status is S.COMPLETED
            )
        )
        [workspace] = store.list_workspaces(objective.id)
        assert not (tmp_path / "work" / "workspaces" / workspace.id).exists()
        assert len(store.list_pull_requests(objective_id=objective.id)) == 1
