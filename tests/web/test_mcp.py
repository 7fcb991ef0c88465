"""The MCP endpoint with the official `mcp` client over HTTP: every tool, its errors, and isolation."""

from __future__ import annotations

import contextlib
import os

import httpx2
import pytest
import trio
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from orcha.agents.fake import Complete, Say, Wait
from orcha.model import ObjectiveStatus, SessionRole, SessionStatus
from orcha.paths import secrets_dir
from tests.web.harness import eventually, served

S = SessionStatus


def idle_team(request):
    if request.role is SessionRole.MANAGER:
        return [Say("I manage"), Wait(3600)]
    if request.prompt.startswith("slow"):
        return [Say("working slowly"), Wait(3600)]
    return [Say("done quickly"), Complete("ok")]


@contextlib.asynccontextmanager
async def mcp_client(url: str, secret: str | None):
    headers = {"Authorization": f"Bearer {secret}"} if secret else {}
    http = httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=60))
    async with http, Client(streamable_http_client(url, http_client=http), mode="legacy") as client:
        yield client


async def _manager(srv, title="t"):
    objective = (await srv.client.post("/api/objectives", json={"title": title, "agent": "claude"})).json()
    manager_id = objective["manager_session_id"]
    await eventually(lambda: srv.store.get_session(manager_id).status is S.RUNNING)
    url, secret = srv.orchestrator.mcp.endpoint(manager_id)
    return objective, manager_id, url, secret


def _text(result) -> str:
    return " ".join(getattr(block, "text", "") for block in result.content)


async def test_tools_are_listed_with_schemas_and_read_only_annotations(tmp_path):
    async with served(tmp_path, scripts=idle_team) as srv:
        _, _, url, secret = await _manager(srv)
        assert url.endswith("/mcp/" + url.rsplit("/", 1)[1]) and secret
        async with mcp_client(url, secret) as client:
            tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        expected = {
            "spawn_session",
            "ask_user",
            "publish_pr",
            "update_pr",
            "comment_pr",
            "create_note",
            "mark_objective_done",
            "cancel_session",
            "message_session",
            "list_sessions",
            "session_status",
            "read_transcript",
            "list_questions",
            "list_prs",
            "record_artifact",
        }
        assert set(tools) == expected
        assert tools["spawn_session"].input_schema["required"] == ["prompt"]
        assert tools["spawn_session"].description
        for tool in tools.values():  # an LLM can use every argument without guessing
            assert tool.description and tool.input_schema["additionalProperties"] is False
            for name, prop in tool.input_schema["properties"].items():
                assert prop.get("description"), (tool.name, name)
        assert tools["list_sessions"].annotations.read_only_hint is True
        assert tools["spawn_session"].annotations.read_only_hint is False


async def test_every_tool_succeeds_and_fails_clearly(tmp_path):
    async with served(tmp_path, scripts=idle_team) as srv:
        objective, manager_id, url, secret = await _manager(srv)
        async with mcp_client(url, secret) as client:
            spawned = await client.call_tool("spawn_session", {"prompt": "quick part"})
            assert not spawned.is_error
            worker_id = spawned.structured_content["id"]
            slow = (
                await client.call_tool("spawn_session", {"prompt": "slow part", "depends_on": []})
            ).structured_content
            await eventually(lambda: srv.store.get_session(worker_id).status is S.COMPLETED)

            listed = await client.call_tool("list_sessions", {})
            assert {s["id"] for s in listed.structured_content["sessions"]} == {manager_id, worker_id, slow["id"]}
            status = await client.call_tool("session_status", {"session": worker_id})
            assert status.structured_content["status"] == "completed"
            page = await client.call_tool("read_transcript", {"session": worker_id, "limit": 2})
            assert [i["seq"] for i in page.structured_content["items"]] == [1, 2]
            asked = await client.call_tool("ask_user", {"question": "Which license?"})
            assert not asked.is_error
            questions = await client.call_tool("list_questions", {})
            assert [q["text"] for q in questions.structured_content["questions"]] == ["Which license?"]
            assert not (await client.call_tool("create_note", {"text": "decided: MIT"})).is_error
            assert not (await client.call_tool("record_artifact", {"name": "spec", "url": "https://x/spec"})).is_error
            published = await client.call_tool("publish_pr", {"title": "Quick part", "session": worker_id})
            assert not published.is_error
            pr_id = published.structured_content["pr_id"]
            assert "pushed" in _text(await client.call_tool("update_pr", {"pr": pr_id}))
            assert not (await client.call_tool("comment_pr", {"pr": pr_id, "body": "ready"})).is_error
            prs = await client.call_tool("list_prs", {})
            assert [p["id"] for p in prs.structured_content["prs"]] == [pr_id]
            canceled = await client.call_tool("cancel_session", {"session": slow["id"], "reason": "not needed"})
            assert canceled.structured_content["status"] == "canceled"

            failures = [
                ("spawn_session", {}, "needs 'prompt'"),
                ("spawn_session", {"prompt": "x", "agent": "gpt-9"}, "unknown agent"),
                ("spawn_session", {"prompt": "x", "colour": "red"}, "has no argument 'colour'"),
                ("spawn_session", {"prompt": 5}, "must be a string"),
                ("session_status", {"session": "ses_000000000000"}, "no session"),
                ("update_pr", {"pr": pr_id, "force": True}, "reason"),
                ("update_pr", {"pr": "pr_000000000000"}, "no pull request"),
                ("cancel_session", {"session": worker_id}, "cannot go from 'completed'"),
                ("read_transcript", {"session": worker_id, "limit": 5000}, "limit"),
                ("record_artifact", {"name": "x"}, "either a path or a url"),
                ("no_such_tool", {}, "unknown tool"),
            ]
            for name, arguments, message in failures:
                result = await client.call_tool(name, arguments)
                assert result.is_error, (name, arguments)
                assert message in _text(result), (name, _text(result))
            assert len(srv.store.list_sessions(objective_id=objective["id"])) == 3  # nothing half-applied

            done = await client.call_tool("mark_objective_done", {"summary": "all done"})
            assert not done.is_error
        assert srv.store.get_objective(objective["id"]).status is ObjectiveStatus.DONE
        # the manager, mid-turn when it declared the objective done, completes at its turn's end (or the grace's)
        await eventually(lambda: srv.store.get_session(manager_id).status is S.COMPLETED)


async def test_a_manager_cannot_reach_another_objectives_sessions(tmp_path):
    async with served(tmp_path, scripts=idle_team) as srv:
        _, _manager_a, url_a, secret_a = await _manager(srv, "a")
        objective_b, manager_b, _url_b, secret_b = await _manager(srv, "b")
        async with mcp_client(url_a, secret_a) as client:
            for name, arguments in (
                ("session_status", {"session": manager_b}),
                ("read_transcript", {"session": manager_b}),
                ("cancel_session", {"session": manager_b}),
                ("spawn_session", {"prompt": "x", "depends_on": [manager_b]}),
            ):
                result = await client.call_tool(name, arguments)
                assert (result.is_error and "not in your objective" in _text(result)) or "no session" in _text(result)
            listed = await client.call_tool("list_sessions", {})
            assert manager_b not in {s["id"] for s in listed.structured_content["sessions"]}
        assert srv.store.get_session(manager_b).status is S.RUNNING
        assert len(srv.store.list_sessions(objective_id=objective_b["id"])) == 1

        for bad_secret in (None, "wrong", secret_b):  # a secret only opens its own session's endpoint
            with pytest.raises(Exception):  # noqa: B017 - the client surfaces the HTTP 401 as an error
                async with mcp_client(url_a, bad_secret) as client:
                    await client.list_tools()
        refused = await srv.client.post(
            url_a.replace(srv.url, ""),
            json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
            headers={"Authorization": f"Bearer {secret_b}"},
        )
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthorized"


async def test_workers_do_not_get_the_managers_tools(tmp_path):
    async with served(tmp_path, scripts=idle_team) as srv:
        objective, _manager_id, _, _ = await _manager(srv)
        worker = await srv.orchestrator.operations.spawn_session(objective["id"], prompt="slow worker")
        await eventually(lambda: srv.store.get_session(worker.id).status is S.RUNNING)
        url, secret = srv.orchestrator.mcp.endpoint(worker.id)
        async with mcp_client(url, secret) as client:
            names = {tool.name for tool in (await client.list_tools()).tools}
            assert "spawn_session" not in names and "publish_pr" in names
            refused = await client.call_tool("mark_objective_done", {"summary": "sneaky"})
            assert refused.is_error and "manager" in _text(refused)
        assert srv.store.get_objective(objective["id"]).status is ObjectiveStatus.ACTIVE


async def test_the_whole_loop_offline_with_a_fake_claude_speaking_mcp(tmp_path, fake_clis):
    """The manager's fake `claude` reads its --mcp-config, spawns a worker, the scheduler starts it, the
    worker's fake `claude` publishes a PR over MCP, the manager marks the objective done."""
    from orcha.agents.claude import ClaudeProvider
    from tests.agents.conftest import read_log

    async with served(tmp_path, providers={"claude": ClaudeProvider()}) as srv:
        created = await srv.client.post(
            "/api/objectives",
            json={"title": "Port subsystem to Rust", "prompt": "orchestrate: port the subsystem", "agent": "claude"},
        )
        objective = created.json()
        await eventually(lambda: srv.store.get_objective(objective["id"]).status is ObjectiveStatus.DONE, within=60)
        # the manager that declared it done completes at its turn's end
        await eventually(
            lambda: all(s.status.is_terminal for s in srv.store.list_sessions(objective_id=objective["id"]))
        )
        dashboard = (await srv.client.get("/api/dashboard")).json()
        sessions = [s for s in dashboard["sessions"] if s["objective_id"] == objective["id"]]
        assert sorted(s["role"] for s in sessions) == ["manager", "worker"]
        assert all(s["status"] == "completed" for s in sessions)
        [pr] = [p for p in dashboard["pull_requests"] if p["objective_id"] == objective["id"]]
        [worker] = [s for s in sessions if s["role"] == "worker"]
        assert pr["session_id"] == worker["id"] and worker["pr_url"] == pr["url"]

        def manager_lines() -> list[str]:
            return [e.body for e in srv.store.read_transcript(objective["manager_session_id"]).items]

        # the transcript is group-committed (every 0.25 s), so the last lines land a moment after the status
        await eventually(lambda: any("mcp__orcha__mark_objective_done" in line for line in manager_lines()))
        assert any("mcp__orcha__spawn_session" in line for line in manager_lines())
        configs = [
            arg.split("=", 1)[1]
            for entry in read_log(fake_clis, "claude")
            if "argv" in entry
            for arg in entry["argv"]
            if arg.startswith("--mcp-config=")
        ]
        assert len(configs) == 2
        for path in configs:  # a private file (never the secret on a command line), removed once the run ended
            assert os.path.dirname(path) == secrets_dir()
            assert not await trio.Path(path).exists()


async def test_hostile_arguments_are_tool_errors_never_protocol_errors(tmp_path):
    """NUL, huge integers, out-of-range cursors, wrong item types, overlong text: each is_error, nothing made."""
    async with served(tmp_path, scripts=idle_team) as srv:
        objective, manager_id, url, secret = await _manager(srv)
        hostile = [
            ("create_note", {"text": "a\x00b"}, "NUL"),
            ("ask_user", {"question": "why\x00"}, "NUL"),
            ("spawn_session", {"prompt": "p", "depends_on": [1]}, "list of strings"),
            ("spawn_session", {"prompt": "p", "depends_on": "ses_x"}, "must be an array"),
            ("spawn_session", {"prompt": "p", "depends_on": ["ses_x"] * 101}, "at most 100 items"),
            ("spawn_session", {"prompt": "x" * 200_001}, "at most 200000 characters"),
            ("spawn_session", {"prompt": "p", "role": "overlord"}, "must be one of"),
            ("spawn_session", {"prompt": "p", "repo": {"url": "x"}}, "must be a string"),
            ("read_transcript", {"session": manager_id, "after": 2**70}, "64 bits"),
            ("read_transcript", {"session": manager_id, "after": -1}, "between 0"),
            ("read_transcript", {"session": manager_id, "limit": 0}, "between 1 and 1000"),
            ("read_transcript", {"session": manager_id, "limit": True}, "must be an integer"),
            ("read_transcript", {"session": manager_id, "after": 1.5}, "must be an integer"),
            ("update_pr", {"pr": "pr_x", "force": "yes"}, "must be a boolean"),
            ("session_status", {"session": "s" * 101}, "at most 100 characters"),
            ("create_note", {"text": "   "}, "needs 'text'"),
            ("create_note", {"text": "n", "te\x00xt": "n"}, "has no argument 'te\\x00xt'"),
        ]
        async with mcp_client(url, secret) as client:
            for name, arguments, message in hostile:
                result = await client.call_tool(name, arguments)
                assert result.is_error, (name, arguments)
                assert message in _text(result), (name, _text(result))
            assert not (await client.call_tool("list_sessions", {})).is_error  # the endpoint still answers
        assert len(srv.store.list_sessions(objective_id=objective["id"])) == 1
        assert srv.store.list_notes(objective["id"]) == []
        assert srv.store.list_questions(objective_id=objective["id"]) == []
