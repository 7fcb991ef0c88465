"""A connection's bytes straight to its socket (orcha.web.direct_send): every byte arrives, in order, whatever
the socket's buffer, a closed peer or two writers at once; the loop still turns; hypercorn serves with it."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import trio
import trio.testing
from hypercorn.config import Config
from hypercorn.events import Closed, RawData
from hypercorn.trio import run as hypercorn_run
from hypercorn.trio.tcp_server import TCPServer
from hypercorn.trio.worker_context import WorkerContext

from orcha.web import direct_send
from orcha.web.direct_send import DirectSendServer
from orcha.web.server import serve_web


class _Protocol:
    """Stands in for hypercorn's protocol: records what the connection tells it."""

    def __init__(self) -> None:
        self.events: list[Any] = []

    async def handle(self, event: Any) -> None:
        self.events.append(event)


_OPEN: list[socket.socket] = []


@pytest.fixture(autouse=True)
def _close_sockets() -> Iterator[None]:
    yield
    while _OPEN:
        _OPEN.pop().close()


def _connection(sndbuf: int | None = None) -> tuple[DirectSendServer, socket.socket, _Protocol]:
    with socket.create_server(("127.0.0.1", 0)) as listener:  # TCP on loopback, as a browser's connection
        theirs = socket.create_connection(listener.getsockname())
        ours, _ = listener.accept()
    _OPEN.extend((ours, theirs))
    if sndbuf is not None:
        ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
    stream = trio.SocketStream(trio.socket.from_stdlib_socket(ours))
    server = DirectSendServer(None, Config(), WorkerContext(None), {}, stream)  # type: ignore[arg-type]
    protocol = _Protocol()
    server.protocol = protocol  # type: ignore[assignment]
    theirs.setblocking(False)
    return server, theirs, protocol


async def _read_all(peer: socket.socket, size: int) -> bytes:
    received = bytearray()
    while len(received) < size:
        with trio.fail_after(10):
            await trio.lowlevel.wait_readable(peer)
        chunk = peer.recv(1 << 16)
        if not chunk:
            break
        received += chunk
    return bytes(received)


async def test_a_write_the_socket_takes_goes_straight_to_it() -> None:
    server, peer, _ = _connection()
    lines = [b"id: 1\nevent: line\n\n", b"id: 2\nevent: line\n\n"]
    for line in lines:
        await server.protocol_send(RawData(data=line))
    assert await _read_all(peer, len(b"".join(lines))) == b"".join(lines)
    assert (server.direct_writes, server.queued_writes) == (2, 0)


async def test_what_a_full_socket_does_not_take_waits_and_arrives_whole_and_in_order() -> None:
    server, peer, _ = _connection(sndbuf=4096)
    big = bytes(range(256)) * 4096  # 1 MiB: far more than the socket's buffer
    small = b"after the big one"
    with trio.fail_after(20):  # (a lost byte would leave the reader waiting)
        async with trio.open_nursery() as nursery:
            blocked = trio.Event()
            nursery.start_soon(_note_blocked, server, blocked)
            nursery.start_soon(server.protocol_send, RawData(data=big))
            await blocked.wait()  # the big write's rest holds the connection's lock, waiting for the reader
            received = bytearray(_drain(peer))  # room in the socket again: the kernel frees it while trio waits
            time.sleep(0.05)  # noqa: ASYNC251 - blocking on purpose: no task runs, the big write's rest still waits

            async def read_the_rest() -> None:
                received.extend(await _read_all(peer, len(big) + len(small) - len(received)))

            nursery.start_soon(read_the_rest)  # runs once this task waits
            await server.protocol_send(RawData(data=small))  # room now, but it must not go ahead of the big one's rest
    assert received == big + small
    assert server.queued_writes == 2  # the big one's rest, and the small one behind the lock
    assert server.direct_writes == 0


def _drain(peer: socket.socket) -> bytes:
    """What the peer has received so far, read without waiting."""
    received = bytearray()
    with contextlib.suppress(BlockingIOError):
        while chunk := peer.recv(1 << 16):
            received += chunk
    return bytes(received)


async def _note_blocked(server: DirectSendServer, blocked: trio.Event) -> None:
    while not server.send_lock.locked():
        await trio.testing.wait_all_tasks_blocked()
    blocked.set()


async def test_a_write_to_a_closed_peer_tells_hypercorn_the_connection_closed() -> None:
    server, peer, protocol = _connection()
    peer.close()
    for _ in range(3):  # the first may still be taken by the kernel; the next see the reset
        await server.protocol_send(RawData(data=b"x" * 100_000))
    assert any(isinstance(event, Closed) for event in protocol.events)


async def test_back_to_back_writes_still_let_the_loop_turn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(direct_send, "BACK_TO_BACK_SECONDS", 3600.0)  # every write counts as back to back
    server, peer, _ = _connection()
    turns = 0

    async def other_task() -> None:
        nonlocal turns
        while True:
            turns += 1
            await trio.lowlevel.checkpoint()

    writes = 4 * (direct_send.YIELD_EVERY + 1)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(other_task)
        while not turns:
            await trio.lowlevel.checkpoint()
        before = turns
        for _ in range(writes):
            await server.protocol_send(RawData(data=b"."))
        during = turns - before
        nursery.cancel_scope.cancel()
    assert await _read_all(peer, writes) == b"." * writes
    assert server.queued_writes == 4
    assert server.direct_writes == writes - 4
    assert during >= 4  # the other task ran at each write that went through trio


async def test_writes_far_apart_all_go_straight(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(direct_send, "BACK_TO_BACK_SECONDS", -1.0)  # no write is close to the one before
    server, peer, _ = _connection()
    for _ in range(3 * direct_send.YIELD_EVERY):
        await server.protocol_send(RawData(data=b"."))
    assert (server.direct_writes, server.queued_writes) == (3 * direct_send.YIELD_EVERY, 0)
    assert await _read_all(peer, 3 * direct_send.YIELD_EVERY) == b"." * (3 * direct_send.YIELD_EVERY)


async def test_other_events_go_hypercorn_s_way() -> None:
    server, peer, protocol = _connection()
    await server.protocol_send(Closed())
    assert protocol.events and isinstance(protocol.events[-1], Closed)
    assert peer.recv(10) == b""  # hypercorn closed its side


def test_install_puts_it_in_place_once_and_refuses_a_hypercorn_it_does_not_know(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(hypercorn_run, "TCPServer", TCPServer)
    assert direct_send.install() is True
    assert hypercorn_run.TCPServer is DirectSendServer
    assert direct_send.install() is True  # again: still in place, nothing stacked

    class Other(TCPServer):
        pass

    monkeypatch.setattr(hypercorn_run, "TCPServer", Other)
    assert direct_send.install() is False
    assert hypercorn_run.TCPServer is Other

    def changed_init(self: Any, *args: Any) -> None:
        self.writer = None  # no send_lock, no stream

    monkeypatch.setattr(hypercorn_run, "TCPServer", TCPServer)
    monkeypatch.setattr(TCPServer, "__init__", changed_init)
    assert direct_send.install() is False
    assert hypercorn_run.TCPServer is TCPServer


async def test_hypercorn_serves_a_big_body_and_a_stream_through_it() -> None:
    big = bytes(range(256)) * 8192  # 2 MiB, in chunks of 64 KiB
    events = [f"id: {i}\nevent: line\ndata: {i}\n\n".encode() for i in range(200)]
    connections: list[Any] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        chunks = [big[i : i + 65536] for i in range(0, len(big), 65536)] if scope["path"] == "/big" else events
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        for chunk in chunks:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    original = DirectSendServer.__init__

    def recording(self: DirectSendServer, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        connections.append(self)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DirectSendServer, "__init__", recording)
        with trio.fail_after(30):  # a byte lost would leave the client waiting
            async with trio.open_nursery() as nursery:
                urls = await nursery.start(lambda task_status: serve_web(app, port=0, task_status=task_status))
                async with httpx.AsyncClient(base_url=urls[0]) as client:
                    async with client.stream("GET", "/big") as response:
                        received = b""
                        async for chunk in response.aiter_bytes():
                            received += chunk
                            await trio.lowlevel.checkpoint()  # a reader slower than the writer: the buffer fills
                    stream = await client.get("/stream")
                nursery.cancel_scope.cancel()
    assert received == big
    assert stream.content == b"".join(events)
    assert connections and all(isinstance(connection, DirectSendServer) for connection in connections)
    assert sum(connection.direct_writes for connection in connections) > 0
