"""SSE and websocket streams over real HTTP; the small-dashboard guarantee through the API."""

from __future__ import annotations

import functools
import json

import apsw
import trio
from hypothesis import given
from hypothesis import strategies as st
from trio_websocket import open_websocket_url

from orcha.agents.fake import Say, Wait
from orcha.model import SessionRole, SessionStatus, TranscriptEntry, TranscriptKind, TranscriptLine
from orcha.oneline import Now
from orcha.web.streams import _lines, activity_json, activity_message, sse
from tests.web.harness import eventually, quick_team, served, take, websocket_refusal


def idle_manager(request):
    return [Say("hello"), Wait(3600)] if request.role is SessionRole.MANAGER else quick_team(request)


async def read_events(response, count: int | None = None, *, until_event: str | None = None) -> list[dict]:
    """Parse SSE frames from an httpx streaming response, up to ``count`` frames or the ``until_event`` one."""
    events: list[dict] = []
    frame: dict = {}

    def enough(line: str) -> bool:
        nonlocal frame
        if line == "":
            if "data" in frame:
                events.append(frame)
                if (count is not None and len(events) >= count) or frame.get("event") == until_event:
                    return True
            frame = {}
        elif line.startswith(":"):
            frame.setdefault("comments", []).append(line)
            if until_event == "comment":
                events[:] = [{"comment": line}]
                return True
        else:
            key, _, value = line.partition(": ")
            frame[key] = value
        return False

    await take(response.aiter_lines(), enough)
    return events


async def _append(srv, session_id: str, first: int, last: int) -> None:
    lines = [
        TranscriptLine(session_id=session_id, kind=TranscriptKind.TEXT, body=f"line {n}")
        for n in range(first, last + 1)
    ]
    await srv.orchestrator.db.run(lambda s: s.append_transcript(lines))
    srv.orchestrator.transcript_appended(session_id)


async def test_sse_reconnect_with_last_event_id_gets_exactly_the_missed_lines(tmp_path):
    async with served(tmp_path, scripts=idle_manager) as srv:
        objective = (await srv.client.post("/api/objectives", json={"title": "t", "agent": "claude"})).json()
        sid = objective["manager_session_id"]
        await eventually(lambda: srv.store.get_session(sid).transcript_seq >= 1)
        base = srv.store.get_session(sid).transcript_seq
        await _append(srv, sid, 1, 10)
        url = f"/api/sessions/{sid}/stream"
        async with srv.client.stream("GET", url) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            first = await read_events(response, count=base + 4)
        last_id = int(first[-1]["id"])
        await _append(srv, sid, 11, 20)
        headers = {"Last-Event-ID": str(last_id)}
        async with srv.client.stream("GET", url, headers=headers) as response, trio.open_nursery() as nursery:
            nursery.start_soon(srv.orchestrator.operations.cancel_session, sid, "done watching")
            rest = await read_events(response, until_event="end")
        seqs = [int(e["id"]) for e in first] + [int(e["id"]) for e in rest if e.get("event") == "line"]
        total = srv.store.get_session(sid).transcript_seq
        assert seqs == list(range(1, total + 1))  # no duplicates, no gaps
        assert json.loads(rest[-1]["data"])["status"] == "canceled"
        async with srv.client.stream("GET", url, params={"after": total - 2}) as response:
            tail = await read_events(response, until_event="end")
        assert [int(e["id"]) for e in tail if e.get("event") == "line"] == [total - 1, total]


async def test_an_idle_stream_sends_keep_alive_comments(tmp_path):
    async with served(tmp_path, scripts=idle_manager, keepalive=0.2) as srv:
        objective = (await srv.client.post("/api/objectives", json={"title": "t", "agent": "claude"})).json()
        sid = objective["manager_session_id"]
        await eventually(lambda: srv.store.get_session(sid).status is SessionStatus.RUNNING)
        seq = srv.store.get_session(sid).transcript_seq
        with trio.fail_after(10):
            async with srv.client.stream("GET", f"/api/sessions/{sid}/stream?after={seq + 100}") as response:
                [frame] = await read_events(response, until_event="comment")
        assert frame["comment"] == ": keep-alive"


async def test_the_events_stream_resumes_from_the_last_event_id(tmp_path):
    async with served(tmp_path, scripts=idle_manager) as srv:
        async with srv.client.stream("GET", "/api/events/stream") as response, trio.open_nursery() as nursery:
            nursery.start_soon(
                functools.partial(srv.client.post, "/api/objectives", json={"title": "t", "agent": "claude"})
            )
            first = await read_events(response, count=2)
        assert [e["event"] for e in first] == ["objective_created", "session_created"]
        async with srv.client.stream(
            "GET", "/api/events/stream", headers={"Last-Event-ID": first[-1]["id"]}
        ) as response:
            [after] = await read_events(response, count=1)
        assert int(after["id"]) == int(first[-1]["id"]) + 1
        assert json.loads(after["data"])["kind"] == after["event"]


async def test_the_websocket_sends_a_snapshot_then_deltas(tmp_path):
    async with served(tmp_path) as srv:
        ws_url = srv.url.replace("http://", "ws://") + "/ws"
        async with open_websocket_url(ws_url) as ws:
            snapshot = json.loads(await ws.get_message())
            assert snapshot["type"] == "snapshot"
            assert [t["name"] for t in snapshot["dashboard"]["targets"]] == ["local"]
            objective = (await srv.client.post("/api/objectives", json={"title": "t", "agent": "claude"})).json()
            seen: dict[str, set] = {}
            printed: set[str] = set()
            with trio.fail_after(20):
                while (
                    len(seen.get("pr", ())) < 2
                    or len(seen.get("session", ())) < 3
                    or objective["id"] not in seen.get("objective", ())
                    or objective["manager_session_id"] not in printed
                ):
                    delta = json.loads(await ws.get_message())
                    if delta["type"] == "activity":  # the sessions that printed, and a line each at most
                        assert set(delta) == {"type", "sessions", "now"} and len(delta["sessions"]) == len(
                            set(delta["sessions"])
                        )
                        assert set(delta["now"]) <= set(delta["sessions"])
                        assert all(n["now"] is None or len(n["now"]) <= 160 for n in delta["now"].values())
                        printed.update(delta["sessions"])
                        continue
                    assert delta["type"] == "delta" and delta["kind"] != "transcript"
                    seen.setdefault(delta["kind"], set()).add(delta["id"])
                    if delta["kind"] == "session" and delta["row"]:
                        assert "transcript" not in json.dumps(delta["row"]).replace("transcript_lines", "")
            assert len(seen["session"]) == 3


async def test_a_websocket_without_the_token_is_refused(tmp_path):
    async with served(tmp_path, token="tok-123456") as srv:
        ws_url = srv.url.replace("http://", "ws://") + "/ws"
        assert (await websocket_refusal(ws_url)).status_code == 401
        async with open_websocket_url(ws_url + "?token=tok-123456") as ws:
            assert json.loads(await ws.get_message())["type"] == "snapshot"


async def test_the_dashboard_api_stays_small_and_never_reads_transcripts(tmp_path):
    async with served(tmp_path, scripts=idle_manager) as srv:
        objective = (await srv.client.post("/api/objectives", json={"title": "t", "agent": "claude"})).json()
        sid = objective["manager_session_id"]
        for start in range(1, 100_001, 10_000):
            lines = [
                TranscriptLine(session_id=sid, kind=TranscriptKind.TEXT, body=f"line {n} " + "y" * 60)
                for n in range(start, start + 10_000)
            ]
            await srv.orchestrator.db.run(lambda s, batch=lines: s.append_transcript(batch))
        tables: set[str] = set()
        statements: list[str] = []

        def authorizer(op, p1, p2, db_name, trigger):
            if op == apsw.SQLITE_READ:
                tables.add(p1)
            return apsw.SQLITE_OK

        srv.reader.connection.set_authorizer(authorizer)
        srv.reader.connection.set_exec_trace(lambda cursor, sql, bindings: statements.append(sql) or True)
        response = await srv.client.get("/api/dashboard")
        srv.reader.connection.set_authorizer(None)
        srv.reader.connection.set_exec_trace(None)
        assert response.status_code == 200
        assert len(response.content) < 64 * 1024
        assert statements and "sessions" in tables and "transcript" not in tables
        [row] = [s for s in response.json()["sessions"] if s["id"] == sid]
        assert row["transcript_lines"] >= 100_000


@given(
    st.lists(
        st.tuples(
            st.integers(min_value=1, max_value=2**32 - 1),
            st.sampled_from(list(TranscriptKind)),
            st.text(),
            st.floats(allow_nan=False, allow_infinity=False),
        ),
        max_size=8,
    )
)
def test_a_batch_of_lines_is_byte_for_byte_the_sse_events_of_each(lines):
    entries = [TranscriptEntry(session_id="s", seq=seq, kind=kind, body=body, ts=ts) for seq, kind, body, ts in lines]
    expected = b"".join(
        sse(ident=e.seq, event="line", data={"seq": e.seq, "kind": str(e.kind), "body": e.body, "ts": e.ts})
        for e in entries
    )
    assert _lines(entries) == expected


@given(
    st.dictionaries(
        st.text(),
        st.none() | st.builds(Now, now=st.none() | st.text(), last_output_at=st.floats() | st.integers(0, 2**40)),
        max_size=8,
    )
)
def test_an_activity_message_is_byte_for_byte_the_json_of_its_dict(printed):
    assert activity_json(printed) == json.dumps(activity_message(printed))


async def test_a_session_that_ends_while_its_stream_reads_the_store_still_gets_its_end(tmp_path, monkeypatch):
    """The race `orcha logs -f` once lost: the status changed after the catch-up read took its snapshot but
    before it returned, and the stream then waited for a change that had already come."""
    import threading

    from orcha.web import streams

    read_done, go_on = threading.Event(), threading.Event()
    original = streams._page_and_status
    held = []

    def slow_first_read(session_id, after, store):
        result = original(session_id, after, store)
        if not held:  # the first catch-up read: its snapshot is taken, the session ends before it returns
            held.append(result)
            read_done.set()
            go_on.wait(30)
        return result

    monkeypatch.setattr(streams, "_page_and_status", slow_first_read)
    async with served(tmp_path, scripts=idle_manager, keepalive=3600) as srv:
        objective = (await srv.client.post("/api/objectives", json={"title": "t", "agent": "claude"})).json()
        sid = objective["manager_session_id"]
        await eventually(lambda: srv.store.get_session(sid).status is SessionStatus.RUNNING)
        async with srv.client.stream("GET", f"/api/sessions/{sid}/stream") as response, trio.open_nursery() as n:

            async def end_it_during_the_read() -> None:
                await trio.to_thread.run_sync(read_done.wait, 30)
                await srv.orchestrator.operations.cancel_session(sid, "ended while its stream read")
                await eventually(lambda: srv.store.get_session(sid).status.is_terminal)
                go_on.set()

            n.start_soon(end_it_during_the_read)
            with trio.fail_after(20):
                events = await read_events(response, until_event="end")
        assert held[0][1].status is SessionStatus.RUNNING  # the read really saw it live
        assert json.loads(events[-1]["data"])["status"] == "canceled"
