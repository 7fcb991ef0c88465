"""A worker's life through the store, as figure 7 makes it, repeated: what it costs a session, and which
statements that is (SQLite's profile hook), so a change to the store's calls is measured without trio.

    .venv/bin/python bench/store_life.py [SESSIONS]

Every session is a worker of one objective (as figure 7's): created, seen by the scheduler's view, its slot
claimed, started, its process recorded, its provider id written, one line with its usage, ended. The first
50 are a warm-up.
"""

from __future__ import annotations

import collections
import os
import sys
import tempfile
import time
from pathlib import Path

from orcha.io.proc_identity import identity_of
from orcha.io.store import Store
from orcha.model import SessionMode, SessionStatus, TargetKind, TranscriptKind, TranscriptLine, Usage, UsageUpdate
from orcha.scheduling import Placement

WARM_UP = 50


def main(sessions: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.db")
        target = store.create_target(name="here", kind=TargetKind.LOCAL, work_root=tmp, capacity_sessions=10**6)
        objective, _ = store.create_objective(title="bench", prompt="p", agent="fake")
        identity = identity_of(os.getpid())

        def life() -> None:
            session = store.create_session(objective_id=objective.id, agent="fake", prompt="quick")
            store.scheduling_view(waiting_workers=16)
            store.claim_placements([Placement(session_id=session.id, target_id=target.id)])
            store.start_running(session.id, reason="placed", mode=SessionMode.NONINTERACTIVE, agent="fake")
            store.record_owned_process(session.id, target.id, identity)
            store.set_session_fields(session.id, provider_session_id="thread-1")
            usage = UsageUpdate(session_id=session.id, delta=Usage(model_calls=1, input_tokens=10, output_tokens=2))
            store.append_transcript(
                [TranscriptLine(session_id=session.id, kind=TranscriptKind.TEXT, body="done")], usage=[usage]
            )
            store.end_session(session.id, SessionStatus.COMPLETED, reason="done", only_if_objective_active=True)

        for _ in range(WARM_UP):
            life()
        spent: collections.Counter[str] = collections.Counter()
        runs: collections.Counter[str] = collections.Counter()

        def profile(sql: str, nanoseconds: int) -> None:
            key = " ".join(sql.split())[:110]
            spent[key] += nanoseconds
            runs[key] += 1

        started = time.perf_counter()
        for _ in range(sessions):
            life()
        elapsed = time.perf_counter() - started
        store.database.conn.set_profile(profile)
        for _ in range(sessions):
            life()
        store.database.conn.set_profile(None)
        store.close()
    print(f"{sessions} sessions: {1e6 * elapsed / sessions:.0f} µs a session through the store")
    print(f"of which SQL (a second pass, profiled): {sum(spent.values()) / 1e3 / sessions:.0f} µs; the most costly:")
    for sql, nanoseconds in spent.most_common(12):
        print(f"  {nanoseconds / 1e3 / sessions:7.1f} µs  {runs[sql] / sessions:4.1f}x  {sql}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
