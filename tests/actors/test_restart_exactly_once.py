"""A restart costs nothing: fake agents carry on from their durable place, a replayed tool call returns the
first result, and a session that waited on its question waits on it again (in-process restarts; the
`kill -9` loop over a real `orcha serve` is tests/cli/test_crash_loop.py)."""

from __future__ import annotations

import trio

from orcha.agents.fake import Ask, Call, Complete, Say, Wait
from orcha.io.store import Store
from orcha.model import QuestionStatus, SessionRole, SessionStatus
from tests.actors.harness import fake, running, store_of, wait_until
from tests.gitfixtures import Origin

S = SessionStatus


def _progress(tmp_path) -> Store:
    """Where the fakes keep their places: the orchestrator's database, on a connection of their own."""
    return Store(tmp_path / "orcha.db")


def _team(request):
    if request.role is SessionRole.MANAGER:
        return [
            Call("spawn_session", {"prompt": "part 1"}),
            Wait(5),
            Call("spawn_session", {"prompt": "part 2"}),
            Call("ask_user", {"question": "anything else?"}),
            Call("create_note", {"text": "planned"}),
            Wait(30),
            Call("mark_objective_done", {"summary": "done"}),
            Complete("done"),
        ]
    return [Say("working"), Wait(20), Complete("worked")]


async def test_a_fake_team_restarted_mid_run_makes_what_it_would_have_made(tmp_path, autojump_clock):
    progress = _progress(tmp_path)
    try:
        async with running(tmp_path, providers={"claude": fake(_team, progress=progress)}) as orch:
            objective, _ = await orch.operations.create_objective(title="t", prompt="p", agent="claude")
            store = store_of(orch)

            async def first_worker_spawned() -> bool:
                return len(store.list_sessions(objective_id=objective.id)) == 2

            await wait_until(first_worker_spawned)
        restarted = fake(_team, progress=progress)
        async with running(tmp_path, providers={"claude": restarted}) as orch:
            store = store_of(orch)

            async def done() -> bool:
                return store.get_objective(objective.id).status.is_terminal

            await wait_until(done)
            sessions = store.list_sessions(objective_id=objective.id)
            workers = [s for s in sessions if s.role is SessionRole.WORKER]
            assert [w.prompt for w in workers] == ["part 1", "part 2"]
            assert all(w.status is S.COMPLETED for w in workers)
            assert len(store.list_questions(objective_id=objective.id)) == 1
            assert [n.text for n in store.list_notes(objective.id)].count("planned") == 1
            manager = next(s for s in sessions if s.role is SessionRole.MANAGER)
            resumed = restarted.actions("resume")
            assert manager.id in [r.session_id for r in resumed]  # carried on, not started over
            assert manager.id not in [r.session_id for r in restarted.actions("start")]
    finally:
        progress.close()


async def test_a_replayed_tool_call_returns_the_first_result(tmp_path, autojump_clock):
    async with running(tmp_path) as orch:
        objective, manager = await orch.operations.create_objective(title="t", prompt="p", agent="claude")
        tools = orch.tools_for(manager.id)
        first = await tools.call("spawn_session", {"prompt": "part 1"}, call_id="toolu_1")
        again = await tools.call("spawn_session", {"prompt": "part 1"}, call_id="toolu_1")
        other = await tools.call("spawn_session", {"prompt": "part 1"}, call_id="toolu_2")
        assert first.data["id"] == again.data["id"] != other.data["id"]
        asked = [await tools.call("ask_user", {"question": "q?"}, call_id="toolu_3") for _ in range(2)]
        assert asked[0].data == asked[1].data
        noted = [await tools.call("create_note", {"text": "n"}, call_id="toolu_4") for _ in range(2)]
        assert noted[0].data == noted[1].data
        store = store_of(orch)
        assert len(store.list_sessions(objective_id=objective.id)) == 3
        assert len(store.list_questions(objective_id=objective.id)) == 1
        assert len(store.list_notes(objective.id)) == 1


async def test_a_replayed_spawn_of_a_session_that_ended_returns_it_and_starts_nothing(tmp_path, autojump_clock):
    """The replay is found in ``create_session``'s own transaction: an ended session is not given an actor."""
    async with running(tmp_path) as orch:
        objective, manager = await orch.operations.create_objective(title="t", prompt="p", agent="claude")
        tools = orch.tools_for(manager.id)
        first = await tools.call("spawn_session", {"prompt": "part 1"}, call_id="toolu_1")
        await orch.operations.cancel_session(first.data["id"], reason="not needed")
        again = await tools.call("spawn_session", {"prompt": "part 1"}, call_id="toolu_1")
        assert (again.data["id"], again.data["status"]) == (first.data["id"], "canceled")
        assert orch.session(first.data["id"]) is None  # its actor left with its end and none came back
        assert len(store_of(orch).list_sessions(objective_id=objective.id)) == 2


async def test_a_replayed_spawn_that_would_be_refused_now_returns_the_first_session(tmp_path, autojump_clock):
    """Its target was renamed since the first call: the replay still gets the session it made, not a refusal."""
    async with running(tmp_path) as orch:
        _, manager = await orch.operations.create_objective(title="t", prompt="p", agent="claude")
        tools = orch.tools_for(manager.id)
        target = store_of(orch).list_targets()[0]
        first = await tools.call("spawn_session", {"prompt": "p", "target": target.name}, call_id="toolu_1")
        assert not first.is_error, first.text
        renamer = Store(tmp_path / "orcha.db")
        renamer.database.conn.execute("UPDATE targets SET name = 'elsewhere' WHERE id = ?", (target.id,))
        renamer.close()
        again = await tools.call("spawn_session", {"prompt": "p", "target": target.name}, call_id="toolu_1")
        assert not again.is_error and again.data["id"] == first.data["id"]
        refused = await tools.call("spawn_session", {"prompt": "p", "target": target.name}, call_id="toolu_2")
        assert refused.is_error and target.name in refused.text  # a new request is refused as before


async def test_a_replayed_spawn_of_a_coding_worker_makes_no_second_workspace(tmp_path):
    """A worker of an objective with a repo gets a workspace row before its session: the replay is found first."""
    origin = Origin(tmp_path)
    idle = fake(lambda request: [Wait(3600)])
    async with running(tmp_path, providers={"claude": idle}) as orch:
        objective, manager = await orch.operations.create_objective(
            title="t", prompt="p", agent="claude", repo=str(origin.path)
        )
        tools = orch.tools_for(manager.id)
        first = await tools.call("spawn_session", {"prompt": "part 1"}, call_id="toolu_1")
        again = await tools.call("spawn_session", {"prompt": "part 1"}, call_id="toolu_1")
        assert not first.is_error and again.data["id"] == first.data["id"]
        store = store_of(orch)
        assert len(store.list_workspaces(objective.id)) == 1
        assert len(store.list_sessions(objective_id=objective.id)) == 2


async def test_a_session_waiting_on_its_question_waits_on_it_again_after_a_restart(tmp_path, autojump_clock):
    def asker(request):
        return [Ask("which database?"), Say("using it"), Complete("done")]

    progress = _progress(tmp_path)
    try:
        async with running(tmp_path, providers={"claude": fake(asker, progress=progress)}) as orch:
            _, manager = await orch.operations.create_objective(title="t", prompt="p", agent="claude")
            store = store_of(orch)

            async def waiting() -> bool:
                return store.get_session(manager.id).status is S.WAITING_INPUT

            await wait_until(waiting)
            [question] = store.list_questions(status=QuestionStatus.OPEN)
        restarted = fake(asker, progress=progress)
        async with running(tmp_path, providers={"claude": restarted}) as orch:
            store = store_of(orch)
            await wait_until(waiting)
            await trio.sleep(60)
            assert store.get_session(manager.id).status is S.WAITING_INPUT  # no "carry on" in its place
            assert [q.id for q in store.list_questions()] == [question.id]  # not asked twice
            await orch.operations.answer_question(question.id, "sqlite")

            async def resumed() -> bool:
                return bool(restarted.actions("resume"))

            await wait_until(resumed)
            [resume] = restarted.actions("resume")
            assert resume.text == "sqlite"  # the answer, as the turn it waited for

            async def said_it() -> bool:
                return any(e.body == "using it" for e in store.read_transcript(manager.id, limit=1000).items)

            await wait_until(said_it)
    finally:
        progress.close()
