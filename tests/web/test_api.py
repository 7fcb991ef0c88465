"""Every endpoint over real HTTP: success and error paths, JSON errors, never a 500 for bad input."""

from __future__ import annotations

import pytest

from orcha.agents.fake import AwaitTeam, Call, Complete
from orcha.io.store import Store
from orcha.model import ObjectiveStatus, SessionRole, SessionStatus
from orcha.web.app import create_app
from orcha.web.context import WebContext
from tests.web.harness import eventually, quick_team, served

S = SessionStatus


def _error(response, status: int, code: str | None = None, field: str | None = None) -> dict:
    assert response.status_code == status, response.text
    body = response.json()["error"]
    assert body["message"]
    if code is not None:
        assert body["code"] == code
    if field is not None:
        assert body["field"] == field
    return body


async def test_objectives_create_list_detail_cancel(tmp_path):
    async with served(tmp_path) as srv:
        created = await srv.client.post(
            "/api/objectives", json={"title": "Port subsystem to Rust", "prompt": "...", "agent": "claude"}
        )
        assert created.status_code == 201
        objective = created.json()
        assert objective["status"] == "active" and objective["manager_session_id"].startswith("ses_")
        await eventually(lambda: srv.store.get_objective(objective["id"]).status is ObjectiveStatus.DONE)
        listed = (await srv.client.get("/api/objectives")).json()["items"]
        assert [o["id"] for o in listed] == [objective["id"]]
        detail = (await srv.client.get(f"/api/objectives/{objective['id']}")).json()
        assert len(detail["sessions"]) == 3 and len(detail["pull_requests"]) == 2
        assert {"questions", "artifacts", "notes"} <= set(detail)
        assert (await srv.client.get("/api/objectives", params={"status": "done"})).json()["items"]
        _error(await srv.client.post(f"/api/objectives/{objective['id']}/cancel"), 409, "invalid_transition")

        second = (await srv.client.post("/api/objectives", json={"title": "t", "agent": "codex"})).json()
        canceled = await srv.client.post(f"/api/objectives/{second['id']}/cancel", json={"reason": "changed my mind"})
        assert canceled.status_code == 200 and canceled.json()["status"] == "canceled"
        assert srv.store.get_session(second["manager_session_id"]).status is S.CANCELED  # ended before the reply


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"prompt": "p", "agent": "claude"}, "title"),
        ({"title": "  ", "agent": "claude"}, "title"),
        ({"title": "t"}, "agent"),
        ({"title": "t", "agent": "gpt-9"}, "agent"),
        ({"title": 5, "agent": "claude"}, "title"),
        ({"title": "t", "agent": "claude", "repo": ["x"]}, "repo"),
    ],
)
async def test_creating_an_objective_with_bad_fields_is_a_400_naming_the_field(tmp_path, body, field):
    async with served(tmp_path) as srv:
        _error(await srv.client.post("/api/objectives", json=body), 400, "invalid_input", field)
        assert srv.store.list_objectives() == []


@pytest.mark.parametrize("raw", ["{not json", "[1, 2]", '"text"'])
async def test_malformed_bodies_are_a_400(tmp_path, raw):
    async with served(tmp_path) as srv:
        response = await srv.client.post("/api/objectives", content=raw, headers={"Content-Type": "application/json"})
        _error(response, 400, "invalid_input")


async def test_unknown_ids_and_routes_are_404(tmp_path):
    async with served(tmp_path) as srv:
        for path in (
            "/api/objectives/obj_000000000000",
            "/api/sessions/ses_000000000000",
            "/api/sessions/ses_000000000000/messages",
            "/api/nothing-here",
        ):
            _error(await srv.client.get(path), 404)
        for path, body in (
            ("/api/sessions/ses_x/steer", {"text": "x"}),
            ("/api/questions/q_x/answer", {"answer": "x"}),
            ("/api/targets/tgt_x/drain", {}),
        ):
            _error(await srv.client.post(path, json=body), 404)
        _error(await srv.client.delete("/api/dashboard"), 405)


async def test_sessions_messages_steer_cancel_resume_screen(tmp_path):
    async with served(tmp_path) as srv:
        objective = (await srv.client.post("/api/objectives", json={"title": "t", "agent": "claude"})).json()
        await eventually(lambda: srv.store.get_objective(objective["id"]).status is ObjectiveStatus.DONE)
        manager_id = objective["manager_session_id"]
        session = (await srv.client.get(f"/api/sessions/{manager_id}")).json()
        assert session["role"] == "manager" and session["status"] == "completed"

        first = (await srv.client.get(f"/api/sessions/{manager_id}/messages", params={"limit": 2})).json()
        assert [i["seq"] for i in first["items"]] == [1, 2] and first["next_after"] == 2
        rest = (await srv.client.get(f"/api/sessions/{manager_id}/messages", params={"after": 2})).json()
        assert rest["items"][0]["seq"] == 3 and set(rest["items"][0]) == {"seq", "kind", "body", "ts", "summary"}
        for params in ({"after": "x"}, {"after": -1}, {"limit": 0}, {"limit": 5000}):
            _error(await srv.client.get(f"/api/sessions/{manager_id}/messages", params=params), 400, "invalid_input")

        _error(await srv.client.post(f"/api/sessions/{manager_id}/steer", json={"text": "more"}), 409)
        _error(await srv.client.post(f"/api/sessions/{manager_id}/steer", json={}), 400, field="text")
        _error(await srv.client.post(f"/api/sessions/{manager_id}/cancel"), 409)
        _error(await srv.client.post(f"/api/sessions/{manager_id}/resume"), 409)
        _error(await srv.client.get(f"/api/sessions/{manager_id}/screen"), 409)

        slow = await srv.orchestrator.operations.spawn_session(
            (await srv.client.post("/api/objectives", json={"title": "t2", "agent": "claude"})).json()["id"],
            prompt="slow worker",
        )
        await eventually(lambda: srv.store.get_session(slow.id).status is S.RUNNING)
        steered = await srv.client.post(f"/api/sessions/{slow.id}/steer", json={"text": "hurry up"})
        assert steered.status_code == 200
        canceled = await srv.client.post(f"/api/sessions/{slow.id}/cancel", json={"reason": "enough"})
        assert canceled.status_code == 200
        assert (canceled.json()["status"], canceled.json()["status_reason"]) == ("canceled", "enough")


def _asks_while_its_team_works(request):
    """A manager that asks the user while a slow worker works (so the question is open until answered)."""
    if request.role is SessionRole.MANAGER:
        return [
            Call("spawn_session", {"prompt": "slow part"}),
            Call("ask_user", {"question": "Which license?"}),
            AwaitTeam(poll_seconds=0.05),
            Complete("done"),
        ]
    return quick_team(request)


async def test_questions_answer_once(tmp_path):
    async with served(tmp_path, scripts=_asks_while_its_team_works) as srv:
        objective = (await srv.client.post("/api/objectives", json={"title": "t", "agent": "claude"})).json()
        await eventually(lambda: bool(srv.store.list_questions()))
        [question] = (await srv.client.get("/api/questions", params={"status": "open"})).json()["items"]
        assert question["objective_id"] == objective["id"] and question["text"] == "Which license?"
        _error(
            await srv.client.post(f"/api/questions/{question['id']}/answer", json={"answer": " "}), 400, field="answer"
        )
        answered = await srv.client.post(f"/api/questions/{question['id']}/answer", json={"answer": "MIT"})
        assert answered.status_code == 200 and answered.json()["status"] == "answered"
        _error(await srv.client.post(f"/api/questions/{question['id']}/answer", json={"answer": "GPL"}), 409)
        assert (await srv.client.get("/api/questions", params={"status": "open"})).json()["items"] == []
        _error(await srv.client.get("/api/questions", params={"status": "maybe"}), 400, field="status")


async def test_prs_and_targets(tmp_path):
    async with served(tmp_path) as srv:
        objective = (await srv.client.post("/api/objectives", json={"title": "t", "agent": "claude"})).json()
        await eventually(lambda: srv.store.get_objective(objective["id"]).status is ObjectiveStatus.DONE)
        prs = (await srv.client.get("/api/prs")).json()["items"]
        assert len(prs) == 2 and {p["state"] for p in prs} == {"open"}
        assert (await srv.client.get("/api/prs", params={"state": "merged"})).json()["items"] == []

        [local] = (await srv.client.get("/api/targets")).json()["items"]
        assert (local["name"], local["status"], local["load"]) == ("local", "online", 0)
        added = await srv.client.post(
            "/api/targets",
            json={"name": "box2", "kind": "local", "work_root": str(tmp_path / "w2"), "capacity_sessions": 2},
        )
        assert (
            added.status_code == 201 and added.json()["doctor"]["ok"] and added.json()["target"]["status"] == "online"
        )
        box = added.json()["target"]["id"]
        _error(await srv.client.post("/api/targets", json={"name": "box2", "kind": "local", "work_root": "/w"}), 409)
        _error(
            await srv.client.post("/api/targets", json={"name": "b", "kind": "ssh", "work_root": "/w"}),
            400,
            field="host",
        )
        _error(
            await srv.client.post("/api/targets", json={"name": "b", "kind": "moon", "work_root": "/w"}),
            400,
            field="kind",
        )
        _error(
            await srv.client.post(
                "/api/targets", json={"name": "b", "kind": "local", "work_root": "/w", "capacity_sessions": -1}
            ),
            400,
            field="capacity_sessions",
        )
        drained = (await srv.client.post(f"/api/targets/{box}/drain")).json()
        assert drained["target"]["status"] == "draining"
        assert (await srv.client.post(f"/api/targets/{box}/enable")).json()["target"]["status"] == "online"
        assert (await srv.client.post(f"/api/targets/{box}/disable")).json()["target"]["status"] == "disabled"
        _error(await srv.client.post(f"/api/targets/{box}/drain"), 409, "invalid_transition")
        doctor = (await srv.client.post(f"/api/targets/{box}/doctor")).json()
        assert doctor["doctor"]["ok"] and doctor["target"]["status"] == "disabled"


async def test_the_openapi_document_lists_every_route(tmp_path):
    async with served(tmp_path) as srv:
        doc = (await srv.client.get("/api/openapi.json")).json()
        assert doc["openapi"].startswith("3.1")
        orchestrator = srv.orchestrator
        context = WebContext(
            operations=orchestrator.operations,
            changes=orchestrator.changes,
            agents=orchestrator,
            reader=orchestrator.db,
        )
        app = create_app(context)
        routes = {r.rule.replace("<", "{").replace(">", "}") for r in app.url_map.iter_rules()}
        api_routes = {r for r in routes if r.startswith("/api/") and r != "/api/openapi.json"}
        assert api_routes and api_routes <= set(doc["paths"])
        for path in (
            "/api/objectives",
            "/api/objectives/{objective_id}",
            "/api/dashboard",
            "/api/sessions/{session_id}/stream",
            "/api/questions/{question_id}/answer",
            "/api/targets",
            "/api/events/stream",
        ):
            assert path in doc["paths"]


async def test_a_token_guards_api_websocket_and_streams(tmp_path):
    async with served(tmp_path, token="s3cret-token-123") as srv:
        import httpx

        async with httpx.AsyncClient(base_url=srv.url) as anonymous:
            _error(await anonymous.get("/api/dashboard"), 401, "unauthorized")
            _error(await anonymous.get("/api/dashboard", headers={"Authorization": "Bearer wrong"}), 401)
            assert (await anonymous.get("/api/dashboard", params={"token": "s3cret-token-123"})).status_code == 200
            page = await anonymous.get("/")  # no dashboard without a login: a page that says how to get one
            assert page.status_code == 401 and "orcha token" in page.text and "<table" not in page.text
        assert (await srv.client.get("/api/dashboard")).status_code == 200


async def test_resume_brings_a_paused_session_back(tmp_path):
    from orcha.agents.fake import Complete, Fail, Wait
    from orcha.model import SessionRole

    def scripts(request):
        if request.role is SessionRole.MANAGER:
            return [Wait(3600)]
        return [Fail("E: flaky network")] * 3 + [Complete("recovered")]

    async with served(tmp_path, scripts=scripts) as srv:
        objective = (await srv.client.post("/api/objectives", json={"title": "t", "agent": "claude"})).json()
        worker = await srv.orchestrator.operations.spawn_session(objective["id"], prompt="w")
        await eventually(lambda: srv.store.get_session(worker.id).status is S.PAUSED)
        assert "same error 3 times" in srv.store.get_session(worker.id).pause_reason
        resumed = await srv.client.post(f"/api/sessions/{worker.id}/resume", json={"text": "try once more"})
        assert resumed.status_code == 200
        await eventually(lambda: srv.store.get_session(worker.id).status is S.COMPLETED)
        [question] = srv.store.list_questions(objective_id=objective["id"])
        assert str(question.status) == "dismissed"


async def test_the_screen_of_a_tmux_session(tmp_path):
    async with served(tmp_path) as srv:
        objective = (
            await srv.client.post(
                "/api/objectives", json={"title": "t", "agent": "shell", "prompt": "echo on-screen-$((6*7))"}
            )
        ).json()
        sid = objective["manager_session_id"]
        await eventually(lambda: srv.store.get_session(sid).attach_command is not None)
        await eventually(lambda: any(e.body == "on-screen-42" for e in srv.store.read_transcript(sid).items))
        screen = await srv.client.get(f"/api/sessions/{sid}/screen")
        assert screen.status_code == 200
        assert "on-screen-42" in screen.json()["screen"]
        assert screen.json()["attach_command"] == f"tmux attach -t orcha-{sid}"
        await srv.client.post(f"/api/sessions/{sid}/cancel")


async def test_a_bad_base_branch_is_refused_at_creation(tmp_path):
    async with served(tmp_path) as srv:
        body = {"title": "t", "agent": "claude", "repo": "/tmp/x.git", "base_branch": "--upload-pack=evil"}
        _error(await srv.client.post("/api/objectives", json=body), 400, "invalid_input", "base_branch")
        assert srv.store.list_objectives() == []


async def test_the_openapi_document_is_valid_and_states_bounds_and_errors(tmp_path):
    from openapi_spec_validator import validate

    async with served(tmp_path) as srv:
        doc = (await srv.client.get("/api/openapi.json")).json()
    validate(doc)
    schemas = doc["components"]["schemas"]
    error = schemas["Error"]["properties"]["error"]
    assert error["required"] == ["code", "message"] and set(error["properties"]) == {"code", "message", "field"}
    for name, schema in schemas.items():
        if name != "Error":
            assert schema["additionalProperties"] is False, name
            for prop, spec in schema["properties"].items():
                bounded = {"maxLength", "enum", "maxItems"} & set(spec) or {"minimum", "maximum"} <= set(spec)
                assert bounded, (name, prop)
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            codes = set(operation["responses"])
            assert {"400", "401", "404", "405", "421"} <= codes, (method, path)
            if method == "post":
                assert {"403", "413", "415"} <= codes, path
            for parameter in operation.get("parameters", ()):
                schema = parameter["schema"]
                if schema.get("type") == "integer":
                    assert {"minimum", "maximum"} <= set(schema), (path, parameter["name"])
    messages = doc["paths"]["/api/sessions/{session_id}/messages"]["get"]["parameters"]
    bounds = {p["name"]: (p["schema"]["minimum"], p["schema"]["maximum"]) for p in messages if p["in"] == "query"}
    assert bounds == {"after": (0, 2**63 - 1), "limit": (1, 1000)}
    assert doc["components"]["responses"]["E421"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }


async def test_questions_and_prs_are_paged_newest_last_with_more_when_history_is_longer(tmp_path):
    async with served(tmp_path) as srv:
        history = Store(tmp_path / "orcha.db")  # history, written as an earlier run of orcha left it
        objective, _ = history.create_objective(title="t", prompt="p", agent="claude")
        for n in range(5):
            history.ask_question(objective_id=objective.id, text=f"question {n}")
            history.create_pull_request(
                objective_id=objective.id, session_id=None, url=f"u{n}", number=n + 1, branch=f"b{n}", base="main"
            )
        history.close()
        questions = (await srv.client.get("/api/questions", params={"limit": 3})).json()
        assert [q["text"] for q in questions["items"]] == ["question 2", "question 3", "question 4"]
        assert questions["more"] is True
        prs = (await srv.client.get("/api/prs", params={"limit": 2})).json()
        assert [p["number"] for p in prs["items"]] == [4, 5] and prs["more"] is True
        every = (await srv.client.get("/api/prs")).json()  # the default page holds them all
        assert [p["number"] for p in every["items"]] == [1, 2, 3, 4, 5] and every["more"] is False
        exact = (await srv.client.get("/api/prs", params={"limit": 5})).json()  # as many as there are
        assert len(exact["items"]) == 5 and exact["more"] is False
        for path in ("/api/questions", "/api/prs"):
            for bad in ("0", "-1", "1001", "many"):
                _error(await srv.client.get(path, params={"limit": bad}), 400, field="limit")


def test_the_store_reads_only_the_newest_page_of_a_long_history(store):
    objective, _ = store.create_objective(title="t", prompt="p", agent="fake")
    for n in range(4):
        store.ask_question(objective_id=objective.id, text=f"q{n}")
    assert [q.text for q in store.list_questions(limit=2)] == ["q2", "q3"]
    assert [q.text for q in store.list_questions()] == ["q0", "q1", "q2", "q3"]
    assert store.list_questions(limit=10, objective_id="obj_none") == []
