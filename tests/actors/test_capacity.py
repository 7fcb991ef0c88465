"""Capacity that cannot deadlock: managers hold no worker slot; the flags of this start win."""

from __future__ import annotations

from orcha.actors.orchestrator import LocalTarget, OrchestratorConfig
from orcha.model import ObjectiveStatus, SessionRole, SessionStatus
from tests.actors.harness import running, store_of, wait_until


async def test_eight_objectives_at_once_with_the_default_flags_all_finish(tmp_path, autojump_clock):
    """Default flags: 4 worker slots, 8 live workers, 8 managers. Eight managers waiting on their teams
    must not keep their sixteen workers out (before, four managers filled the four slots for ever)."""
    config = OrchestratorConfig(local_target=LocalTarget(work_root=str(tmp_path / "work")), pr_poll_interval=3600)
    assert (config.local_target.capacity_sessions, config.max_concurrent, config.max_managers) == (4, 8, 8)
    async with running(tmp_path, config=config) as orch:
        store = store_of(orch)
        objectives = [
            (await orch.operations.create_objective(title=f"objective {n}", prompt="...", agent="claude"))[0]
            for n in range(8)
        ]
        peak = 0

        async def all_done() -> bool:
            nonlocal peak
            peak = max(peak, sum(store.target_loads().values()))
            return all(store.get_objective(o.id).status is ObjectiveStatus.DONE for o in objectives)

        await wait_until(all_done, within=2 * 3600)
        workers = [s for s in store.list_sessions() if s.role is SessionRole.WORKER]
        assert len(workers) == 16 and all(w.status is SessionStatus.COMPLETED for w in workers)
        assert 0 < peak <= 4  # capacity was never exceeded, and it was used
        assert len(store.list_pull_requests()) == 16
        assert store.target_loads() == {}


async def test_the_capacity_given_at_this_start_updates_the_stored_local_target(tmp_path, autojump_clock):
    def config(capacity: int) -> OrchestratorConfig:
        return OrchestratorConfig(
            local_target=LocalTarget(capacity_sessions=capacity, work_root=str(tmp_path / "work")),
            pr_poll_interval=3600,
        )

    async with running(tmp_path, config=config(2)) as orch:
        [local] = store_of(orch).list_targets()
        assert local.capacity_sessions == 2
    async with running(tmp_path, config=config(6)) as orch:
        [local] = store_of(orch).list_targets()
        assert local.capacity_sessions == 6
        assert any(e.kind == "target_capacity" for e in store_of(orch).events_after(0, limit=10_000))
