"""The default team through a real server: what its manager says it did names the team's outcome, never the
script's ``{team}`` placeholder (in the logged tool call, the session's "now" and the tool's effect alike)."""

from __future__ import annotations

import json

from orcha.agents.scripts import default_script
from tests.web.harness import eventually, served


async def test_the_manager_logs_its_closing_calls_with_the_team_filled_in(tmp_path):
    async with served(tmp_path, scripts=default_script) as srv:
        created = await srv.client.post("/api/objectives", json={"title": "Port the parser", "agent": "claude"})
        objective = created.json()
        manager = objective["manager_session_id"]
        await eventually(lambda: srv.store.get_objective(objective["id"]).status == "done", within=60)
        await eventually(lambda: srv.store.get_session(manager).status.is_terminal, within=30)
        messages = (await srv.client.get(f"/api/sessions/{manager}/messages", params={"limit": 500})).json()["items"]
        calls = [m for m in messages if m["kind"] == "tool_call"]
        closing = [m for m in calls if json.loads(m["body"])["tool"] in ("create_note", "mark_objective_done")]
        assert len(closing) == 2, calls
        for call in closing:
            assert "{team}" not in repr(call) and "team finished" in call["summary"], call
        row = (await srv.client.get(f"/api/sessions/{manager}")).json()
        assert "{team}" not in (row["now"] or "")
