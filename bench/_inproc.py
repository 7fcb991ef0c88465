"""orcha in the benchmark's own process: the orchestrator's tree on a real store file, wall-clock time, and
private XDG folders (for figures that script their agents in Python or time orcha's internals)."""

from __future__ import annotations

import contextlib
import functools
import gc
import os
import pathlib
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

import trio

from orcha.actors.orchestrator import LocalTarget, Orchestrator, OrchestratorConfig
from orcha.agents.registry import ProviderRegistry
from orcha.cli._serve import tune_collector
from orcha.doctor import Check, CheckSink, DoctorReport, no_progress
from orcha.forge import FakeForge
from orcha.io.gateway import StoreGateway
from orcha.io.local_executor import LocalExecutor
from orcha.io.store import Store
from orcha.model import Target
from orcha.processes import database_mark
from orcha.web.app import create_asgi
from orcha.web.context import WebContext
from orcha.web.server import serve_web


async def passing_doctor(target: Target, /, *, on_check: CheckSink = no_progress) -> DoctorReport:
    return DoctorReport(checks=(Check(name="work_root", ok=True),))


@contextlib.contextmanager
def private_homes(root: pathlib.Path) -> Iterator[None]:
    """``XDG_*`` under ``root`` while the figure runs (orcha's secrets and logs go there, never the user's)."""
    (root / "run").mkdir(mode=0o700, parents=True, exist_ok=True)
    names = {"XDG_DATA_HOME": root / "data", "XDG_STATE_HOME": root / "state", "XDG_RUNTIME_DIR": root / "run"}
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update({name: str(path) for name, path in names.items()})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.asynccontextmanager
async def running(
    root: pathlib.Path,
    providers: Mapping[str, Any],
    *,
    slots: int,
    managers: int,
    grace: float = 3.0,
    web: bool = False,
) -> AsyncIterator[Orchestrator]:
    """An orchestrator as ``orcha serve`` builds one (a store gateway on a worker thread, wall-clock time, the
    local executor), with ``slots`` worker slots and room for ``managers`` managers; with ``web``, also its
    web app on 127.0.0.1 (so every session has its MCP endpoint and secret, as under ``orcha serve``)."""
    store = Store(root / "orcha.db")
    reader = Store(root / "orcha.db", readonly=True)
    orchestrator = Orchestrator(
        db=StoreGateway(store, on_loop=True),
        providers=ProviderRegistry(dict(providers)),
        forge=FakeForge(),
        doctor=passing_doctor,
        config=OrchestratorConfig(
            max_concurrent=slots,
            max_managers=managers,
            local_target=LocalTarget(capacity_sessions=slots, work_root=str(root / "work")),
            pr_poll_interval=3600,
            manager_idle_seconds=None,
            artifacts_root=str(root / "artifacts"),
        ),
        clock=time.time,
        local_executor=LocalExecutor(grace=grace, mark=database_mark(str(root / "orcha.db"))),  # as serve's
    )
    thresholds = gc.get_threshold()
    try:
        tune_collector()  # as orcha serve does, before the actors start
        async with trio.open_nursery() as nursery:
            await nursery.start(functools.partial(orchestrator.run, hold_services=web))
            if web:
                context = WebContext(
                    operations=orchestrator.operations,
                    changes=orchestrator.changes,
                    agents=orchestrator,
                    reader=StoreGateway(reader),
                    token="bench-token-" + "0" * 20,
                )
                urls = await nursery.start(functools.partial(serve_web, create_asgi(context), port=0))
                orchestrator.mcp.base_url = urls[0]
                orchestrator.start_services()
            yield orchestrator
            nursery.cancel_scope.cancel()
    finally:
        gc.unfreeze()  # the benchmark's process goes on to other figures and baselines
        gc.set_threshold(*thresholds)
        reader.close()
        store.close()


async def wait_for_count(
    orchestrator: Orchestrator, statuses: set[Any], at_least: int, *, role: Any = None, poll: float = 0.005
) -> None:
    """Poll the store until at least ``at_least`` sessions (of ``role``) are in one of ``statuses``."""

    def counted(store: Any) -> int:
        return int(store.count_sessions(statuses, role=role))

    while await orchestrator.db.run(counted) < at_least:  # noqa: ASYNC110 - the store is the truth
        await trio.sleep(poll)
