"""Through a real server: a history page of none says where history starts, and a base branch without a
repository is refused naming the field (nothing created)."""

from __future__ import annotations

from tests.web.harness import eventually, served


async def _ended(srv, title: str) -> str:
    created = (await srv.client.post("/api/objectives", json={"title": title, "agent": "claude"})).json()
    assert (await srv.client.post(f"/api/objectives/{created['id']}/cancel")).status_code == 200
    await eventually(lambda: srv.store.get_objective(created["id"]).status != "active")
    return str(created["id"])


async def test_a_history_page_of_none_says_whether_there_is_history_and_where_it_starts(tmp_path):
    async with served(tmp_path) as srv:

        async def page(**params) -> dict:
            reply = await srv.client.get("/api/dashboard", params=params)
            assert reply.status_code == 200, reply.text
            return dict(reply.json()["history"])

        assert await page(history_limit=0) == {"shown": 0, "more": False, "next_before": None}
        older = await _ended(srv, "older")
        newer = await _ended(srv, "newer")
        # none shown: more is "there is history", next_before the cursor it starts from (none: the newest)
        assert await page(history_limit=0) == {"shown": 0, "more": True, "next_before": None}
        assert await page(history_limit=0, history_before=newer) == {"shown": 0, "more": True, "next_before": newer}
        assert await page(history_limit=0, history_before=older) == {"shown": 0, "more": False, "next_before": None}
        assert await page(history_limit=1) == {"shown": 1, "more": True, "next_before": newer}
        assert await page(history_limit=1, history_before=newer) == {"shown": 1, "more": False, "next_before": None}


async def test_a_base_branch_without_a_repo_is_a_400_naming_the_field(tmp_path):
    async with served(tmp_path) as srv:
        body = {"title": "t", "agent": "claude", "base_branch": "dev"}
        reply = await srv.client.post("/api/objectives", json=body)
        assert reply.status_code == 400, reply.text
        error = reply.json()["error"]
        assert error["field"] == "base_branch" and "repo" in error["message"]
        assert (await srv.client.get("/api/objectives")).json()["items"] == []
        blank = await srv.client.post("/api/objectives", json={**body, "repo": ""})
        assert blank.status_code == 400 and blank.json()["error"]["field"] == "base_branch"
