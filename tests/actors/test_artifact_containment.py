"""record_artifact copies files of the session's own checkout, and nothing a path or a link leads to outside."""

from __future__ import annotations

import os
import pathlib
import stat

import pytest
import trio

from orcha.actors.orchestrator import LocalTarget, OrchestratorConfig
from orcha.agents.fake import Edit, Wait
from orcha.errors import InvalidInputError
from orcha.model import SessionRole
from tests.actors.harness import fake, running, store_of
from tests.gitfixtures import Origin


def scripts(request):
    if request.role is SessionRole.MANAGER:
        return [Wait(3600)]
    return [Edit("report.md", "the findings"), Wait(3600)]


async def until(check, within: float = 60) -> None:
    with trio.fail_after(within):
        while not check():  # noqa: ASYNC110 - polling the store is the point
            await trio.sleep(0.05)


async def test_only_regular_files_inside_the_checkout_are_recorded(tmp_path):
    origin = Origin(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("not yours")
    (tmp_path / "work-real").mkdir()
    (tmp_path / "work").symlink_to(tmp_path / "work-real")  # the work root itself may be reached through a link
    artifacts = tmp_path / "artifacts"
    config = OrchestratorConfig(
        local_target=LocalTarget(work_root=str(tmp_path / "work")), pr_poll_interval=3600, artifacts_root=str(artifacts)
    )
    async with running(tmp_path, providers={"claude": fake(scripts)}, config=config) as orch:
        store = store_of(orch)
        objective, _ = await orch.operations.create_objective(
            title="t", prompt="p", agent="claude", repo=str(origin.path)
        )
        worker = await orch.operations.spawn_session(objective.id, prompt="write a report")

        def checkout() -> pathlib.Path | None:
            session = store.get_session(worker.id)
            path = store.get_workspace(session.workspace_id or "").path
            return pathlib.Path(path) if path and os.path.exists(f"{path}/report.md") else None

        await until(lambda: checkout() is not None)
        root = checkout()
        assert root is not None
        (root / "link.txt").symlink_to(outside / "secret.txt")
        (root / "passwd").symlink_to("/etc/passwd")
        (root / "linked-dir").symlink_to(outside)
        (root / "inner-link.md").symlink_to("report.md")
        (root / "sub").mkdir()
        os.link(outside / "secret.txt", root / "hard.txt")
        session = store.get_session(worker.id)
        refused = [
            "link.txt",
            "passwd",
            "linked-dir/secret.txt",
            "../outside/secret.txt",
            "sub/../../outside/secret.txt",
            str(outside / "secret.txt"),
            "hard.txt",
            "sub",
            ".",
            "missing.txt",
            "report.md\0.txt",
            "",
        ]
        for path in refused:
            with pytest.raises(InvalidInputError) as caught:
                await orch.workspaces.save_artifact(session, path)
            assert caught.value.field == "path", path
        assert not artifacts.exists() or not any(p.is_file() for p in artifacts.rglob("*"))

        outcome = await orch.tools_for(worker.id).call("record_artifact", {"name": "leak", "path": "link.txt"})
        assert outcome.is_error and "out of your checkout" in outcome.text
        assert store.list_artifacts(objective.id) == []

        copy = trio.Path(await orch.workspaces.save_artifact(session, "report.md"))
        assert "the findings" in await copy.read_text()
        assert copy.parent == trio.Path(artifacts / objective.id / worker.id)
        for folder in (artifacts, artifacts / objective.id, artifacts / objective.id / worker.id):
            assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        linked = trio.Path(await orch.workspaces.save_artifact(session, "inner-link.md"))  # a link inside: its file
        assert not await linked.is_symlink() and await linked.read_text() == await copy.read_text()
    assert (outside / "secret.txt").read_text() == "not yours"
