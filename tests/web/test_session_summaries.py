"""A real server running a fake team: every row says what its session was asked and is doing, the messages
say each line in one line, the websocket's activity says what each session is doing now, and the objective's
timeline shows its sessions, PRs, questions and cost over time."""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence

import trio
from trio_websocket import open_websocket_url

from orcha import oneline
from orcha.actors import transcript_buffer
from orcha.agents.contract import StartRequest
from orcha.agents.fake import Call, Edit, Say, Step, Wait
from orcha.model import SessionRole
from orcha.summary_schedule import SummarySchedule
from tests.web.harness import eventually, served


async def _team_done(srv, objective_id: str) -> dict:
    await eventually(
        lambda: (
            srv.store.get_objective(objective_id).status == "done"
            and all(s.status.is_terminal for s in srv.store.list_sessions(objective_id=objective_id))
        )
    )
    return (await srv.client.get(f"/api/objectives/{objective_id}/timeline")).json()


async def test_the_timeline_of_a_team_shows_its_sessions_prs_questions_and_rising_cost(tmp_path):
    async with served(tmp_path) as srv:
        created = (await srv.client.post("/api/objectives", json={"title": "Ship it", "agent": "claude"})).json()
        await eventually(lambda: any(q.status == "open" for q in srv.store.list_questions(objective_id=created["id"])))
        [question] = srv.store.list_questions(objective_id=created["id"])
        answered = await srv.client.post(f"/api/questions/{question.id}/answer", json={"answer": "MIT"})
        assert answered.status_code == 200
        timeline = await _team_done(srv, created["id"])

    assert timeline["objective"]["id"] == created["id"] and timeline["objective"]["title"] == "Ship it"
    assert timeline["objective"]["status"] == "done"
    assert timeline["objective"]["ended_at"] >= timeline["objective"]["created_at"]
    sessions = timeline["sessions"]
    assert [(s["role"], s["task"]) for s in sessions] == [
        ("manager", "Ship it"),
        ("worker", "part 1"),
        ("worker", "part 2"),
    ]
    starts = [s["started_at"] for s in sessions]
    assert all(start is not None for start in starts) and starts == sorted(starts) and len(set(starts)) == 3
    assert all(s["ended_at"] is not None and s["ended_at"] >= s["started_at"] for s in sessions)
    assert {s["status"] for s in sessions} == {"completed"}

    prs = [m for m in timeline["markers"] if m["kind"] == "pr"]
    workers = {s["id"] for s in sessions if s["role"] == "worker"}
    assert len(prs) == 2 and {m["session_id"] for m in prs} == workers
    assert all(m["label"].startswith("#") for m in prs)
    kinds = [m["kind"] for m in timeline["markers"]]
    assert kinds.count("question") == 1 and kinds.count("answer") == 1
    answer = next(m for m in timeline["markers"] if m["kind"] == "answer")
    assert answer["label"] == "MIT" and answer["session_id"] == sessions[0]["id"]
    assert [m["at"] for m in timeline["markers"]] == sorted(m["at"] for m in timeline["markers"])

    cost = timeline["cost"]
    assert 2 <= len(cost) <= 500
    assert [c["at"] for c in cost] == sorted(c["at"] for c in cost)
    assert [c["cost_usd"] for c in cost] == sorted(c["cost_usd"] for c in cost) and cost[-1]["cost_usd"] > cost[0][
        "cost_usd"
    ]


async def test_the_timeline_of_an_unknown_objective_is_a_404(tmp_path):
    async with served(tmp_path) as srv:
        response = await srv.client.get("/api/objectives/obj_nope/timeline")
        assert response.status_code == 404 and response.json()["error"]
        hostile = await srv.client.get("/api/objectives/" + "x" * 5000 + "/timeline")
        assert hostile.status_code in (404, 400, 414)


async def test_a_timeline_keeps_at_most_500_cost_samples_the_newest_last(tmp_path):
    async with served(tmp_path, scripts=lambda request: [Wait(60)]) as srv:
        created = (await srv.client.post("/api/objectives", json={"title": "t", "agent": "claude"})).json()
    from orcha.io.store import Store
    from orcha.model import Usage

    with Store(tmp_path / "orcha.db") as store:
        for n in range(1, 1201):
            store.add_session_usage(created["manager_session_id"], Usage(), cost_total_usd=n / 100)
        cost = store.objective_timeline(created["id"]).cost
    assert 400 <= len(cost) <= 500
    assert cost[-1].cost_usd == 12.0 and cost[0].cost_usd == 0.01
    assert list(cost) == sorted(cost, key=lambda c: c.at)


def _worker_that_fails(request: StartRequest) -> list[Step]:
    if request.role is SessionRole.MANAGER:
        return [Say("planning\nthe details"), Call("spawn_session", {"prompt": "Fix the parser\nin src"}), Wait(60)]
    return [Say("looking"), Edit("src/parser.py"), Call("no_such_tool", {"x": 1}), Wait(60)]


async def test_rows_say_what_each_session_is_doing_and_messages_say_each_line_in_one_line(tmp_path):
    async with served(tmp_path, scripts=_worker_that_fails) as srv:
        created = (await srv.client.post("/api/objectives", json={"title": "Parser", "agent": "claude"})).json()

        def worker():
            return next((s for s in srv.store.list_sessions(objective_id=created["id"]) if s.role == "worker"), None)

        def manager_now() -> str | None:
            return srv.store.get_session(created["manager_session_id"]).now

        # each summary is stored at most once a second and caught up within two: wait for both, whichever is last
        await eventually(lambda: worker() is not None and (worker().now or "").startswith("✗"))
        await eventually(lambda: manager_now() == "spawn_session Fix the parser")
        dashboard = (await srv.client.get("/api/dashboard")).json()
        rows = {row["id"]: row for row in dashboard["sessions"]}
        manager_row, worker_row = rows[created["manager_session_id"]], rows[worker().id]
        assert manager_row["task"] == "Parser" and worker_row["task"] == "Fix the parser"
        assert worker_row["now"].startswith("✗ no_such_tool")
        assert worker_row["last_output_at"] > 0 and worker_row["started_at"] > 0 and worker_row["ended_at"] is None
        assert worker_row["branch"] is None  # an objective without a repo: no checkout, no branch
        assert manager_row["now"] == "spawn_session Fix the parser"

        one = (await srv.client.get(f"/api/sessions/{worker().id}")).json()
        assert (one["task"], one["now"], one["branch"]) == ("Fix the parser", worker_row["now"], worker_row["branch"])
        listed = (await srv.client.get(f"/api/objectives/{created['id']}")).json()["sessions"]
        assert {s["id"]: s["task"] for s in listed}[worker().id] == "Fix the parser"

        messages = (await srv.client.get(f"/api/sessions/{worker().id}/messages")).json()["items"]
        by_kind = [(m["kind"], m["summary"]) for m in messages if m["kind"] != "usage"]
        assert ("text", "looking") in by_kind
        assert ("tool_call", "Edit src/parser.py") in by_kind
        assert ("tool_result", "✓ Edit") in by_kind
        assert any(kind == "tool_result" and summary.startswith("✗ no_such_tool: ") for kind, summary in by_kind)
        assert all(m["summary"] is None for m in messages if m["kind"] in ("usage", "system"))
        assert all(m["summary"] is None or len(m["summary"]) <= oneline.LIMIT for m in messages)


async def test_the_websocket_activity_says_what_each_printing_session_is_doing(tmp_path):
    async with served(tmp_path, scripts=_worker_that_fails) as srv:
        ws_url = srv.url.replace("http://", "ws://") + "/ws"
        async with open_websocket_url(ws_url) as ws:
            assert json.loads(await ws.get_message())["type"] == "snapshot"
            await srv.client.post("/api/objectives", json={"title": "Parser", "agent": "claude"})
            said: dict[str, list[str | None]] = {}
            with trio.fail_after(20):
                while not any((n or "").startswith("✗ no_such_tool") for says in said.values() for n in says):
                    message = json.loads(await ws.get_message())
                    if message["type"] != "activity":
                        continue
                    assert set(message) == {"type", "sessions", "now"}
                    assert set(message["now"]) <= set(message["sessions"])
                    for sid, now in message["now"].items():
                        assert set(now) == {"now", "last_output_at"} and now["last_output_at"] > 0
                        assert now["now"] is None or len(now["now"]) <= oneline.LIMIT
                        said.setdefault(sid, []).append(now["now"])
        assert any("spawn_session Fix the parser" in says for says in said.values())


def _manager_that_talks_then_waits(request: StartRequest) -> Sequence[Step]:
    return [Say("first words"), Wait(0.3), Say("second words"), Wait(60)]


async def test_a_row_the_socket_sends_after_its_activity_says_what_the_activity_said(tmp_path, monkeypatch):
    # The store's summary lags (an hour's interval here; a second in orcha): a row read from it would go back.
    monkeypatch.setattr(transcript_buffer, "SummarySchedule", functools.partial(SummarySchedule, 3600.0))
    async with served(tmp_path, scripts=_manager_that_talks_then_waits) as srv:
        ws_url = srv.url.replace("http://", "ws://") + "/ws"
        async with open_websocket_url(ws_url) as ws:
            assert json.loads(await ws.get_message())["type"] == "snapshot"
            created = (await srv.client.post("/api/objectives", json={"title": "Talk", "agent": "claude"})).json()
            manager = created["manager_session_id"]
            told = None
            with trio.fail_after(20):
                while told is None or told["now"] != "second words":
                    message = json.loads(await ws.get_message())
                    if message["type"] == "activity" and manager in message["now"]:
                        told = message["now"][manager]
            assert srv.store.dashboard_row("session", manager).now == "first words"  # the store lags

            srv.orchestrator.changes.announce("session", manager)
            with trio.fail_after(20):
                while not (
                    (message := json.loads(await ws.get_message()))["type"] == "delta" and message["id"] == manager
                ):
                    pass
            assert (message["row"]["now"], message["row"]["last_output_at"]) == ("second words", told["last_output_at"])
            assert message["row"]["status"] == "running"
