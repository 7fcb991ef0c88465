"""A restart with the fake forge on the store behaves like one with a real forge: its PRs are still there."""

from __future__ import annotations

import logging

from orcha.forge import FakeForge
from orcha.io.store import Store
from orcha.model import ObjectiveStatus, PRState
from tests.actors.harness import running, store_of, wait_until


async def _finish_an_objective_with_prs(tmp_path, forge: FakeForge) -> list[str]:
    async with running(tmp_path, forge=forge) as orch:
        store = store_of(orch)
        objective, _ = await orch.operations.create_objective(title="t", prompt="p", agent="claude")

        async def done() -> bool:
            return store.get_objective(objective.id).status is ObjectiveStatus.DONE

        await wait_until(done)
        urls = [p.url for p in store.list_pull_requests(state=PRState.OPEN)]
        assert urls
        return urls


async def test_after_a_restart_the_durable_fake_forge_still_has_its_prs(tmp_path, autojump_clock, caplog):
    with Store(tmp_path / "orcha.db") as state:
        urls = await _finish_an_objective_with_prs(tmp_path, FakeForge(state=state))
        restarted = FakeForge(state=state)
        assert sorted(p.url for p in restarted.prs()) == sorted(urls)
        caplog.set_level(logging.WARNING, logger="orcha.actors.pr_monitor")
        async with running(tmp_path, forge=restarted) as orch:
            assert await orch.pr_monitor.poll_once() == 0
            assert [p.url for p in store_of(orch).list_pull_requests(state=PRState.OPEN)] == urls
        assert [r.getMessage() for r in caplog.records if r.name == "orcha.actors.pr_monitor"] == []


async def test_after_a_restart_an_in_memory_fake_forge_has_forgotten_them(tmp_path, autojump_clock, caplog):
    await _finish_an_objective_with_prs(tmp_path, FakeForge())
    caplog.set_level(logging.WARNING, logger="orcha.actors.pr_monitor")
    async with running(tmp_path, forge=FakeForge()) as orch:
        await orch.pr_monitor.poll_once()
    assert any("no pull request" in r.getMessage() for r in caplog.records if r.name == "orcha.actors.pr_monitor")
