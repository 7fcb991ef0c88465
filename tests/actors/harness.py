"""A running orchestrator on a virtual clock, with fake agents, a fake forge and a real store file."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import trio

from orcha.actors.orchestrator import LocalTarget, Orchestrator, OrchestratorConfig
from orcha.actors.process_sweep import HostProcesses
from orcha.agents.contract import StartRequest
from orcha.agents.fake import FakeProvider, Step
from orcha.agents.registry import ProviderRegistry
from orcha.agents.scripts import default_script
from orcha.doctor import Check, CheckSink, DoctorReport, no_progress
from orcha.forge import FakeForge
from orcha.io.gateway import StoreGateway
from orcha.io.local_executor import LocalExecutor
from orcha.io.store import Store
from orcha.model import Target

EPOCH = 1_800_000_000.0


def wall_clock() -> float:
    return EPOCH + trio.current_time()


async def passing_doctor(target: Target, /, *, on_check: CheckSink = no_progress) -> DoctorReport:
    check = Check(name="work_root", ok=True)
    await on_check(check)
    return DoctorReport(checks=(check,))


def fake(scripts: Callable[[StartRequest], Sequence[Step]] = default_script, **kwargs) -> FakeProvider:
    return FakeProvider(scripts, clock=wall_clock, **kwargs)


@contextlib.asynccontextmanager
async def running(
    tmp_path,
    *,
    providers: dict[str, FakeProvider] | None = None,
    fallback_order: Sequence[str] = (),
    forge: FakeForge | None = None,
    config: OrchestratorConfig | None = None,
    capacity: int = 4,
    doctor: Callable[[Target], Awaitable[DoctorReport]] = passing_doctor,
    processes: HostProcesses | None = None,
    hold_services: bool = False,
) -> AsyncIterator[Orchestrator]:
    store = Store(tmp_path / "orcha.db", clock=wall_clock)
    registry = ProviderRegistry(providers or {"claude": fake()}, fallback_order=fallback_order)
    config = config or OrchestratorConfig(
        local_target=LocalTarget(capacity_sessions=capacity, work_root=str(tmp_path / "work")), pr_poll_interval=3600
    )
    orchestrator = Orchestrator(
        db=StoreGateway(store, inline=True),
        providers=registry,
        forge=forge or FakeForge(),
        doctor=doctor,
        local_executor=LocalExecutor(grace=1.0),
        processes=processes,
        config=config,
        clock=wall_clock,
    )
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(functools.partial(orchestrator.run, hold_services=hold_services))
            yield orchestrator
            nursery.cancel_scope.cancel()
    finally:
        store.close()


async def wait_until(check: Callable[[], Awaitable[bool]], *, within: float = 3600, step: float = 0.25) -> None:
    """Poll ``check`` on the virtual clock until it holds; fail after ``within`` virtual seconds."""
    with trio.fail_after(within):
        while not await check():  # noqa: ASYNC110 - polling the store on a virtual clock is the point
            await trio.sleep(step)


def store_of(orchestrator: Orchestrator) -> Store:
    return orchestrator.db.store  # type: ignore[attr-defined]
