"""A real HTTP server in the test's nursery: orchestrator, store on a file, hypercorn on 127.0.0.1:0."""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit

import attrs
import httpx
import trio
from trio_websocket import ConnectionRejected, wrap_client_stream

from orcha.actors.orchestrator import LocalTarget, Orchestrator, OrchestratorConfig
from orcha.agents.contract import StartRequest
from orcha.agents.fake import AwaitTeam, Call, Complete, Edit, FakeProvider, Say, Step, Wait
from orcha.agents.registry import ProviderRegistry
from orcha.agents.tmux import TmuxProvider
from orcha.forge import FakeForge
from orcha.io.gateway import StoreGateway
from orcha.io.local_executor import LocalExecutor
from orcha.io.store import Store
from orcha.model import SessionRole
from orcha.web.access import AccessPolicy
from orcha.web.app import create_asgi
from orcha.web.context import WebContext
from orcha.web.server import serve_web
from tests.actors.harness import passing_doctor

T = TypeVar("T")


def quick_team(request: StartRequest) -> Sequence[Step]:
    """The default team's shape, without the demo's pauses."""
    if request.role is SessionRole.MANAGER:
        return [
            Say("planning"),
            Call("spawn_session", {"prompt": "part 1"}),
            Call("spawn_session", {"prompt": "part 2"}),
            Call("ask_user", {"question": "Which license?"}),
            AwaitTeam(poll_seconds=0.05),
            Call("mark_objective_done", {"summary": "two PRs"}),
            Complete("done"),
        ]
    if request.prompt.startswith("slow"):
        return [Say("slow"), Wait(60), Complete("ok")]
    return [Say("working"), Edit("a.py"), Call("publish_pr", {"title": request.prompt}), Complete("ok")]


@attrs.define
class Served:
    url: str
    orchestrator: Orchestrator
    store: Store  # the test's own read-only connection, for assertions from the trio thread
    reader: Store
    forge: FakeForge
    client: httpx.AsyncClient
    ssh_executors: Any = None


@contextlib.asynccontextmanager
async def served(
    tmp_path,
    *,
    scripts: Callable[[StartRequest], Sequence[Step]] = quick_team,
    token: str | None = None,
    keepalive: float = 15.0,
    providers: dict | None = None,
    policy: AccessPolicy | None = None,
    doctor: Callable[[Any], Any] = passing_doctor,
    ssh_executor: Callable[[Any], Any] | None = None,
    local_capacity: int = 4,
    forge: Any = None,
) -> AsyncIterator[Served]:
    writer = Store(tmp_path / "orcha.db")
    reader = Store(tmp_path / "orcha.db", readonly=True)
    store = Store(tmp_path / "orcha.db", readonly=True)
    forge = forge or FakeForge()
    providers = providers or {
        "claude": FakeProvider(scripts, name="claude"),
        "codex": FakeProvider(scripts, name="codex", interactive=False),
        "shell": TmuxProvider(log_dir=str(tmp_path / "tmux-logs")),
    }
    orchestrator = Orchestrator(
        db=StoreGateway(writer, on_loop=True),  # as orcha serve
        providers=ProviderRegistry(providers),
        forge=forge,
        doctor=doctor,
        ssh_executor=ssh_executor,
        config=OrchestratorConfig(
            local_target=LocalTarget(capacity_sessions=local_capacity, work_root=str(tmp_path / "work")),
            schedule_interval=0.5,
            pr_poll_interval=3600,
            done_turn_grace=0.5,
        ),
        clock=time.time,
        local_executor=LocalExecutor(grace=1.0),
    )
    app = create_asgi(
        WebContext(
            operations=orchestrator.operations,
            changes=orchestrator.changes,
            agents=orchestrator,
            reader=StoreGateway(reader),
            token=token,
            keepalive_seconds=keepalive,
        ),
        policy,
    )
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(functools.partial(orchestrator.run, hold_services=True))  # as orcha serve
            urls = await nursery.start(functools.partial(serve_web, app, host="127.0.0.1", port=0))
            orchestrator.mcp.base_url = urls[0]
            orchestrator.start_services()
            async with httpx.AsyncClient(base_url=urls[0], headers=headers, timeout=30) as client:
                yield Served(
                    url=urls[0], orchestrator=orchestrator, store=store, reader=reader, forge=forge, client=client
                )
            nursery.cancel_scope.cancel()
    finally:
        for opened in (writer, reader, store):
            opened.close()


async def eventually(check: Callable[[], bool], *, within: float = 30.0) -> None:
    """Wait (real time) until ``check()`` holds."""
    with trio.fail_after(within):
        while not check():  # noqa: ASYNC110 - polling the store is the point
            await trio.sleep(0.05)


async def take(items: AsyncIterator[T], enough: Callable[[T], bool]) -> list[T]:
    """The items of an httpx response iterator (``aiter_lines()``, ``aiter_raw()``...) up to the first ``enough`` one.

    httpx's iterators are a chain of async generators down to httpcore's, and leaving a loop over them early
    abandons the whole chain to the garbage collector, whatever closes the response. The read is cancelled
    instead: the cancellation is raised at the innermost await, in httpcore, and unwinds every generator of the
    chain on its way out (httpcore closes the connection as it goes). The stream's end ends it as well.
    """
    taken: list[T] = []
    with trio.CancelScope() as stop:
        async for item in items:
            if stop.cancel_called:
                continue  # already read off the socket; the next read raises the cancellation
            taken.append(item)
            if enough(item):
                stop.cancel()
    return taken


async def first_chunk(response: httpx.Response) -> bytes:
    """The first bytes of a streamed response body (an SSE stream started), its generators closed."""
    [chunk] = await take(response.aiter_raw(), lambda _: True)
    return chunk


async def websocket_refusal(url: str, extra_headers: list[tuple[Any, Any]] | None = None) -> ConnectionRejected:
    """The server's refusal of a websocket handshake to ``url``; fails the test if the server accepts it.

    The test owns the TCP connection: ``open_websocket_url`` leaves its own socket unclosed when the handshake
    is rejected (trio-websocket's reader task raises ``ConnectionRejected`` without closing its stream).
    """
    parts = urlsplit(url)
    assert parts.hostname and parts.port
    resource = parts.path + (f"?{parts.query}" if parts.query else "")
    rejection: ConnectionRejected | None = None
    async with await trio.open_tcp_stream(parts.hostname, parts.port) as stream:
        try:
            async with trio.open_nursery() as nursery:
                connection = await wrap_client_stream(
                    nursery, stream, f"{parts.hostname}:{parts.port}", resource, extra_headers=extra_headers
                )
                await connection.aclose()
        except* ConnectionRejected as group:
            [rejection] = group.exceptions  # type: ignore[assignment]
    if rejection is None:
        raise AssertionError(f"the websocket handshake to {url} was accepted")
    return rejection
