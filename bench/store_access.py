"""How trio code reaches SQLite: a worker thread per call (orcha's StoreGateway) against apsw.aio's Trio mode,
both against the raw synchronous call as the floor, measured in the same run.

    .venv/bin/python bench/store_access.py [CALLS]

Each way runs the same point query (a session by id) CALLS times, one after another, as an actor does.
"""

from __future__ import annotations

import sys
import tempfile
import time

import apsw
import trio

from orcha.io.gateway import StoreGateway
from orcha.io.store import Store

QUERY = "SELECT * FROM sessions WHERE id = ?"


async def main(calls: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/bench.db"
        store = Store(path)
        _, manager = store.create_objective(title="bench", prompt="p", agent="fake")
        raw = apsw.Connection(path)

        started = time.perf_counter()
        for _ in range(calls):
            list(raw.execute(QUERY, (manager.id,)))
        floor = time.perf_counter() - started

        gateway = StoreGateway(store)
        started = time.perf_counter()
        for _ in range(calls):
            await gateway.run(lambda s: s.get_session(manager.id))
        threaded = time.perf_counter() - started

        started = time.perf_counter()
        for _ in range(calls):
            await trio.to_thread.run_sync(lambda: list(raw.execute(QUERY, (manager.id,))))
        threaded_raw = time.perf_counter() - started

        conn = await apsw.Connection.as_async(path)  # the default controller detects trio (apsw.aio.Trio)
        started = time.perf_counter()
        for _ in range(calls):
            cursor = await conn.execute(QUERY, (manager.id,))
            await cursor.fetchall()
        aio = time.perf_counter() - started
        await conn.aclose()
        raw.close()
        store.close()

    print(f"calls: {calls}")
    print(f"raw apsw, sync on the trio thread   {floor / calls * 1e6:8.1f} µs/call   1.00x (floor)")
    print(
        f"raw apsw via trio.to_thread         {threaded_raw / calls * 1e6:8.1f} µs/call   {threaded_raw / floor:.1f}x"
    )
    print(f"apsw.aio (Trio controller)          {aio / calls * 1e6:8.1f} µs/call   {aio / floor:.1f}x")
    print(f"orcha StoreGateway (thread, Store)  {threaded / calls * 1e6:8.1f} µs/call   {threaded / floor:.1f}x")


if __name__ == "__main__":
    trio.run(main, int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
