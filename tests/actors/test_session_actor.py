"""The session actor alone: built from a SessionDeps of recording fakes (the store is the real one), driven by
the messages the scheduler and the operations send it, on trio's MockClock. No Orchestrator, no supervisors,
no scheduler.

The races between a worker's turn completion and a cancel are forced with ``trio.testing.Sequencer``:
whichever reached the session's inbox first wins, and the outcome is the same on every run.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import attrs
import pytest
import trio
import trio.testing

from orcha.actors.deps import SessionSettings
from orcha.actors.mailbox import ActorGone
from orcha.actors.messages import Answer, AwaitCapacity, CancelSession, Notify, ObjectiveEnded, Place, Steer
from orcha.actors.session import SessionActor
from orcha.agents.contract import (
    ProviderSessionStarted,
    QuestionAsked,
    TextOut,
    ToolCall,
    ToolResult,
    TurnCompleted,
    UsageReport,
)
from orcha.agents.registry import ProviderRegistry
from orcha.errors import ConflictError, InvalidTransitionError
from orcha.guards import GuardConfig
from orcha.io.gateway import StoreGateway
from orcha.io.store import Store
from orcha.model import (
    Audience,
    ObjectiveStatus,
    Session,
    SessionMode,
    SessionRole,
    SessionStatus,
    Target,
    TargetKind,
    TargetStatus,
)
from orcha.processes import ProcessIdentity
from tests.actors.fakes import (
    ScriptedProvider,
    ScriptedRun,
    SessionFakes,
    StubExecutor,
    Timed,
    session_deps,
    timed_call,
    wall_clock,
)

S = SessionStatus
USAGE = UsageReport(model_calls=1, input_tokens=120, output_tokens=30, cost_total_usd=0.25)


@attrs.define
class Rig:
    store: Store
    provider: ScriptedProvider
    fakes: SessionFakes
    actor: SessionActor
    session: Session
    target: Target
    nursery: trio.Nursery
    ended: trio.Event
    stop: trio.CancelScope

    async def place(self) -> ScriptedRun:
        """What the scheduler does: claim a slot on the target, then tell the session where it runs."""
        self.store.claim_target_slot(self.target.id, self.session.id)
        assert await self.actor.mailbox.call(Place(target_id=self.target.id)) is None
        run = await self.provider.next_run()
        await trio.testing.wait_all_tasks_blocked()  # the actor waits for the run's first event
        return run

    def now(self) -> Session:
        return self.store.get_session(self.session.id)

    def lines(self) -> list[tuple[str, str]]:
        return [(str(e.kind), e.body) for e in self.store.read_transcript(self.session.id).items]

    def event_kinds(self) -> list[str]:
        return [e.kind for e in self.store.events_after(0, session_id=self.session.id)]


@contextlib.asynccontextmanager
async def a_session(
    tmp_path,
    *,
    role: SessionRole = SessionRole.WORKER,
    interactive: bool = True,
    settings: SessionSettings | None = None,
) -> AsyncIterator[Rig]:
    store = Store(tmp_path / "orcha.db", clock=wall_clock)
    provider = ScriptedProvider(interactive=interactive)
    deps, fakes = session_deps(
        StoreGateway(store, inline=True), ProviderRegistry({"scripted": provider}), settings=settings
    )
    objective, manager = store.create_objective(title="t", prompt="lead the team", agent="scripted")
    session = (
        manager
        if role is SessionRole.MANAGER
        else store.create_session(objective_id=objective.id, agent="scripted", prompt="do the work")
    )
    target = store.create_target(
        name="local", kind=TargetKind.LOCAL, work_root=str(tmp_path), capacity_sessions=4, status=TargetStatus.ONLINE
    )
    actor = SessionActor(deps, session)
    ended = trio.Event()
    stop = trio.CancelScope()  # cancelling it is orcha stopping under the actor

    async def run_actor() -> None:
        try:
            with stop:
                await actor.run()
        finally:
            ended.set()

    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(run_actor)
            await actor.ready.wait()
            yield Rig(store, provider, fakes, actor, session, target, nursery, ended, stop)
            nursery.cancel_scope.cancel()
    finally:
        store.close()


# --- the life of a worker -------------------------------------------------------------------------------


async def test_a_placed_worker_runs_its_turn_and_completes(tmp_path, autojump_clock):
    async with a_session(tmp_path) as rig:
        assert rig.now().status is S.QUEUED
        rig.actor.mailbox.cast(AwaitCapacity(reason="no room yet"))
        await trio.testing.wait_all_tasks_blocked()
        assert rig.now().status is S.WAITING_CAPACITY
        run = await rig.place()
        assert rig.fakes.observer.statuses(rig.session.id) == [S.WAITING_CAPACITY, S.STARTING, S.RUNNING]
        assert run.request.executor == StubExecutor(name="executor:local")
        assert (run.request.prompt, run.request.mcp_url, run.request.tools) == ("do the work", None, None)
        with pytest.raises(ConflictError, match="not waiting to be placed"):
            await rig.actor.mailbox.call(Place(target_id=rig.target.id))

        run.feed(ProviderSessionStarted(provider_session_id="psid-1"), USAGE, TextOut(text="working on it"))
        run.feed(TurnCompleted(final_text="all done"))
        await rig.ended.wait()

        session = rig.now()
        assert (session.status, session.status_reason) == (S.COMPLETED, "all done")
        assert session.provider_session_id == "psid-1"
        assert (session.usage.model_calls, session.usage.input_tokens, session.usage.cost_usd) == (1, 120, 0.25)
        assert rig.lines() == [("text", "working on it"), ("system", "turn completed: all done")]
        assert rig.fakes.observer.statuses(rig.session.id)[-1] is S.COMPLETED
        assert rig.fakes.observer.appended and rig.fakes.observer.exited == [rig.session.id]
        assert rig.fakes.workspaces.prepared == [rig.session.id]
        assert rig.fakes.workspaces.released == [(rig.session.id, S.COMPLETED)]
        assert rig.fakes.executors.asked == [rig.target.id]
        assert rig.fakes.mcp.forgotten == [rig.session.id]
        assert rig.provider.log == [("start", rig.session.id), ("cancel", rig.session.id)]
        assert rig.store.target_loads().get(rig.target.id, 0) == 0  # its slot went back with its end
        with pytest.raises(ActorGone):
            await rig.actor.mailbox.call(Steer(text="anyone there?"))


async def test_a_workers_end_is_one_write_its_manager_told_and_its_process_record_forgotten(tmp_path, autojump_clock):
    """The end's write carries the manager's notice and forgets the run's process record (the run was
    stopped before it): nothing is left for a crash between them to lose, and the end costs one store call."""
    async with a_session(tmp_path) as rig:
        run = await rig.place()
        await run.request.record_process(ProcessIdentity(pgid=4242, start_time=887015, boot_id="boot-1"))
        assert [p.session_id for p in rig.store.list_owned_processes()] == [rig.session.id]
        run.feed(TurnCompleted(final_text="all done"))
        await rig.ended.wait()
        assert rig.store.list_owned_processes() == []
        [end] = rig.fakes.observer.ends
        assert end.session.status is S.COMPLETED and end.live_workers == 0
        [notice] = rig.store.pending_notices(rig.session.objective_id)
        assert (notice.id, notice.kind, notice.text) == (
            end.notice_id,
            "worker_completed",
            f"Worker {rig.session.id} completed: all done",
        )


async def test_plain_output_is_taken_as_it_comes_in_order_with_the_events_the_actor_decides_on(
    tmp_path, autojump_clock
):
    async with a_session(tmp_path) as rig:
        run = await rig.place()
        run.feed(TextOut(text="one"), ToolCall(name="Edit", arguments={"path": "a.py"}, call_id="c1"), USAGE)
        run.feed(
            ToolResult(output="edited", is_error=False, call_id="c1"),
            ToolResult(output="boom", is_error=True, call_id="c2"),
        )
        run.feed(TextOut(text="two"), TurnCompleted(final_text="done"))
        await rig.ended.wait()
        assert rig.lines() == [
            ("text", "one"),
            ("tool_call", '{"tool": "Edit", "arguments": {"path": "a.py"}}'),
            ("tool_result", "edited"),
            ("tool_result", "boom"),  # an error result goes through the actor (the same-error guard counts it)
            ("text", "two"),
            ("system", "turn completed: done"),
        ]
        assert rig.now().usage.model_calls == 1


async def test_output_taken_by_the_pump_keeps_the_idle_guard_from_tripping_and_silence_trips_it(
    tmp_path, autojump_clock
):
    settings = SessionSettings(guards=GuardConfig(no_progress_seconds=60.0))
    async with a_session(tmp_path, settings=settings) as rig:
        run = await rig.place()
        for n in range(6):  # 240 s of a line every 40 s: never 60 s without progress
            run.feed(TextOut(text=f"line {n}"))
            await trio.sleep(40)
            assert rig.now().status is S.RUNNING
        last = trio.current_time() - 40
        await trio.sleep(last + 59 - trio.current_time())
        assert rig.now().status is S.RUNNING
        await trio.sleep(2)  # 61 s after the last line
        assert rig.now().status is S.PAUSED and "no progress for 60 seconds" in (rig.now().status_reason or "")


async def test_steering_a_queued_session_is_refused_and_a_cancel_ends_it(tmp_path, autojump_clock):
    async with a_session(tmp_path) as rig:
        with pytest.raises(ConflictError, match="has not started yet"):
            await rig.actor.mailbox.call(Steer(text="hurry"))
        canceled = await rig.actor.mailbox.call(CancelSession(reason="not needed"))
        assert (canceled.status, canceled.status_reason) == (S.CANCELED, "not needed")
        await rig.ended.wait()
        assert rig.provider.log == []  # it never started an agent
        assert rig.fakes.observer.statuses(rig.session.id) == [S.CANCELED]


async def test_an_interactive_steer_mid_turn_is_a_new_turn_of_the_same_process(tmp_path, autojump_clock):
    async with a_session(tmp_path) as rig:
        run = await rig.place()
        run.feed(TextOut(text="starting"))
        assert await rig.actor.mailbox.call(Steer(text="use the other API")) is None
        assert run.sent == ["use the other API"]
        run.feed(TurnCompleted(final_text="first turn"))  # the turn that was running ends...
        await trio.testing.wait_all_tasks_blocked()
        assert rig.now().status is S.RUNNING  # ...and the steered turn, queued in the process, follows
        run.feed(TurnCompleted(final_text="steered turn"))
        await rig.ended.wait()
        assert (rig.now().status, rig.now().status_reason) == (S.COMPLETED, "steered turn")
        assert ("user", "use the other API") in rig.lines()
        assert [action for action, _ in rig.provider.log] == ["start", "cancel"]


async def test_a_non_interactive_steer_cancels_the_turn_and_resumes_the_conversation(tmp_path, autojump_clock):
    async with a_session(tmp_path, interactive=False) as rig:
        run = await rig.place()
        run.feed(ProviderSessionStarted(provider_session_id="psid-1"), TextOut(text="starting"))
        await trio.testing.wait_all_tasks_blocked()  # the conversation has an id to resume
        assert await rig.actor.mailbox.call(Steer(text="use the other API")) is None
        resumed = await rig.provider.next_run()
        assert run.canceled.is_set() and run.sent == []
        assert resumed.request.prompt == "use the other API"
        resumed.feed(TurnCompleted(final_text="done the other way"))
        await rig.ended.wait()
        assert rig.now().status is S.COMPLETED
        assert [action for action, _ in rig.provider.log] == ["start", "cancel", "resume", "cancel"]


async def test_an_answer_resumes_a_session_waiting_on_its_question(tmp_path, autojump_clock):
    async with a_session(tmp_path) as rig:
        run = await rig.place()
        run.feed(QuestionAsked(text="which database?"), TurnCompleted(final_text="which database?"))
        await trio.testing.wait_all_tasks_blocked()
        assert rig.now().status is S.WAITING_INPUT
        [(objective_id, asked_by, text, audience)] = rig.fakes.questions.asks
        assert (objective_id, asked_by, text, audience) == (
            rig.session.objective_id,
            rig.session.id,
            text,
            Audience.USER,
        )
        [question] = rig.store.list_questions(objective_id=objective_id)
        assert await rig.actor.mailbox.call(Answer(question_id=question.id, text="sqlite")) is None
        await trio.testing.wait_all_tasks_blocked()
        assert rig.now().status is S.RUNNING
        assert run.sent == ["sqlite"]  # the same process takes the answer as its next turn
        assert rig.fakes.questions.closes == []  # answered, not dismissed
        run.feed(TurnCompleted(final_text="used sqlite"))
        await rig.ended.wait()
        assert rig.fakes.observer.statuses(rig.session.id)[-3:] == [S.WAITING_INPUT, S.RUNNING, S.COMPLETED]
        assert ("user", f"(answer to {question.id}) sqlite") in rig.lines()


async def test_notify_wakes_a_waiting_manager_with_its_team_news(tmp_path, autojump_clock):
    async with a_session(tmp_path, role=SessionRole.MANAGER) as rig:
        run = await rig.place()
        run.feed(TurnCompleted(final_text="spawned my team"))
        await trio.testing.wait_all_tasks_blocked()
        assert rig.now().status is S.WAITING_INPUT  # a manager never completes by itself
        rig.store.add_notice(rig.session.objective_id, "session_ended", "worker w1 completed")
        rig.actor.mailbox.cast(Notify())
        await trio.testing.wait_all_tasks_blocked()
        assert run.sent == ["Update from your team: worker w1 completed"]
        assert rig.now().status is S.RUNNING
        assert rig.store.pending_notices(rig.session.objective_id) == []  # delivered


@pytest.mark.parametrize("ended", [ObjectiveStatus.DONE, ObjectiveStatus.CANCELED])
async def test_a_waiting_manager_woken_after_its_objective_ended_starts_no_turn(tmp_path, autojump_clock, ended):
    """Its move back to running checks the objective in the move's transaction (its turn reads it no more):
    the objective ended meanwhile (its ``ObjectiveEnded`` still on its way), so the manager ends instead."""
    async with a_session(tmp_path, role=SessionRole.MANAGER) as rig:
        run = await rig.place()
        run.feed(TurnCompleted(final_text="spawned my team"))
        await trio.testing.wait_all_tasks_blocked()
        assert rig.now().status is S.WAITING_INPUT
        rig.store.add_notice(rig.session.objective_id, "session_ended", "worker w1 completed")
        rig.store.finish_objective(rig.session.objective_id, ended)
        rig.actor.mailbox.cast(Notify())
        with trio.fail_after(60):  # virtual seconds: a manager that took the turn would wait for it forever
            await rig.ended.wait()
        assert run.sent == []  # no turn was sent
        assert rig.now().status is (S.COMPLETED if ended is ObjectiveStatus.DONE else S.CANCELED)


async def test_its_objective_ending_cancels_a_running_worker_and_answers_once_it_has_ended(tmp_path, autojump_clock):
    async with a_session(tmp_path) as rig:
        run = await rig.place()
        run.feed(TextOut(text="working"))
        await trio.testing.wait_all_tasks_blocked()
        ended = await rig.actor.mailbox.call(ObjectiveEnded(status=ObjectiveStatus.DONE, completed_by="session_x"))
        assert ended.status is S.CANCELED and rig.now().status is S.CANCELED
        assert run.canceled.is_set()
        assert ("text", "working") in rig.lines()


# --- a turn's completion racing a cancel ----------------------------------------------------------------


async def test_a_completion_just_before_a_cancel_wins(tmp_path, autojump_clock):
    """(a) The completion reached the actor first and is applied; the cancel, arriving while the actor is still
    finishing, finds the session completed (the 409 the user sees)."""
    async with a_session(tmp_path) as rig:
        run = await rig.place()
        run.feed(USAGE, TextOut(text="working"))
        seq = trio.testing.Sequencer()

        async def hold_the_end(session: Session) -> None:  # in the actor's task, `completed` just written
            async with seq(1):
                pass
            async with seq(3):
                pass

        rig.fakes.observer.hooks[S.COMPLETED] = hold_the_end
        async with seq(0):
            run.feed(TurnCompleted(final_text="finished"))
        async with seq(2):
            cancel = timed_call(rig.nursery, rig.actor.mailbox, CancelSession(reason="changed my mind"))
            await trio.testing.wait_all_tasks_blocked()  # the cancel is in the actor's inbox
            start = trio.current_time()
        await cancel.done.wait()
        await rig.ended.wait()

        error = cancel.error
        assert isinstance(error, InvalidTransitionError)
        assert (error.current, error.requested) == ("completed", "canceled")
        assert cancel.at == start  # answered as the actor ended, without waiting for anything
        session = rig.now()
        assert (session.status, session.status_reason) == (S.COMPLETED, "finished")
        assert (session.usage.model_calls, session.usage.output_tokens) == (1, 30)
        assert rig.lines() == [("text", "working"), ("system", "turn completed: finished")]
        assert "late_completion_dropped" not in rig.event_kinds()


@pytest.mark.parametrize("first", ["completion", "cancel"])
async def test_a_completion_and_a_cancel_at_the_same_moment_the_first_in_the_inbox_wins(
    tmp_path, autojump_clock, first
):
    """(b) Both are released at the same virtual instant, one scheduling step apart, so both are in the inbox
    before the actor acts on either; the Sequencer decides which is put there first, and that one wins."""
    async with a_session(tmp_path) as rig:
        run = await rig.place()
        run.feed(USAGE, TextOut(text="working"))
        await trio.testing.wait_all_tasks_blocked()
        seq = trio.testing.Sequencer()
        completion_step, cancel_step = (0, 1) if first == "completion" else (1, 0)
        cancel_result = Timed()
        at = trio.current_time()

        async def agent() -> None:
            async with seq(completion_step):
                run.feed(TurnCompleted(final_text="finished"))  # the pump forwards it at its next step

        async def cancel() -> None:
            async with seq(cancel_step):
                pass
            await trio.lowlevel.checkpoint()  # one step, as the pump takes to relay what the agent fed it
            try:  # the call puts the cancel in the inbox before it first yields
                cancel_result.value = await rig.actor.mailbox.call(CancelSession(reason="changed my mind"))
            except ConflictError as exc:
                cancel_result.error = exc
            cancel_result.done.set()

        rig.nursery.start_soon(cancel)
        rig.nursery.start_soon(agent)
        await cancel_result.done.wait()
        await rig.ended.wait()

        result = cancel_result.error or cancel_result.value
        session = rig.now()
        assert trio.current_time() == at
        if first == "completion":
            assert isinstance(result, InvalidTransitionError) and result.current == "completed"
            assert (session.status, session.status_reason) == (S.COMPLETED, "finished")
            assert ("system", "turn completed: finished") in rig.lines()
            assert "late_completion_dropped" not in rig.event_kinds()
        else:
            assert isinstance(result, Session) and result.status is S.CANCELED
            assert (session.status, session.status_reason) == (S.CANCELED, "changed my mind")
            assert ("system", "turn completed: finished") not in rig.lines()
            assert "late_completion_dropped" in rig.event_kinds()
        assert ("text", "working") in rig.lines()  # what the agent wrote before is kept either way
        assert session.usage.model_calls == 1


async def test_a_completion_just_after_a_cancel_is_recorded_as_dropped(tmp_path, autojump_clock):
    """(c) The actor took the cancel first; the agent completes its turn as it is killed: the session is
    canceled, the completion is recorded as dropped and never applied, the transcript before it is kept."""
    async with a_session(tmp_path) as rig:
        run = await rig.place()
        run.feed(USAGE, TextOut(text="working"))
        await trio.testing.wait_all_tasks_blocked()
        seq = trio.testing.Sequencer()

        async def completes_as_it_is_killed(killed: ScriptedRun) -> None:
            async with seq(1):
                killed.feed(UsageReport(model_calls=1, output_tokens=500), TurnCompleted(final_text="finished"))

        rig.provider.on_cancel = completes_as_it_is_killed
        async with seq(0):
            pass
        canceled = await rig.actor.mailbox.call(CancelSession(reason="changed my mind"))
        await rig.ended.wait()

        assert (canceled.status, canceled.status_reason) == (S.CANCELED, "changed my mind")
        session = rig.now()
        assert session.status is S.CANCELED
        assert (session.usage.model_calls, session.usage.output_tokens) == (1, 30)  # the late report: dropped
        assert rig.lines() == [("text", "working"), ("system", "canceled: changed my mind")]  # the late turn: gone
        dropped = [e for e in rig.store.events_after(0, session_id=rig.session.id) if e.kind.startswith("late_")]
        assert [(e.kind, e.data["event"]) for e in dropped] == [
            ("late_event_dropped", "UsageReport"),
            ("late_completion_dropped", "TurnCompleted"),
        ]
        assert rig.fakes.observer.statuses(rig.session.id)[-1] is S.CANCELED


# --- calls while the actor ends -------------------------------------------------------------------------


async def test_a_steer_or_an_answer_while_the_session_ends_gets_actor_gone_at_once(tmp_path, autojump_clock):
    """After a cancel, while the actor's shielded end waits on a slow kill of the agent, later calls are
    refused at once (they do not wait for the kill)."""
    async with a_session(tmp_path) as rig:
        run = await rig.place()
        run.feed(TextOut(text="working"))

        async def slow_kill(killed: ScriptedRun) -> None:
            await trio.sleep(30)  # the agent's process group takes its time to die

        rig.provider.on_cancel = slow_kill
        cancel = timed_call(rig.nursery, rig.actor.mailbox, CancelSession(reason="stop"))
        await run.cancel_called.wait()
        start = trio.current_time()
        with trio.move_on_after(60):
            with pytest.raises(ActorGone):
                await rig.actor.mailbox.call(Steer(text="one more thing"))
            assert trio.current_time() == start
            with pytest.raises(ActorGone):
                await rig.actor.mailbox.call(Answer(question_id="question_1", text="yes"))
            assert trio.current_time() == start
        assert trio.current_time() == start, "a call to an ending session waited for the agent's kill"
        await cancel.done.wait()
        assert cancel.at == start + 30  # the cancel caller, though, is answered once the session has ended
        assert cancel.value.status is S.CANCELED and rig.now().status is S.CANCELED
        assert ("user", "one more thing") not in rig.lines()


async def test_a_call_handed_to_the_actor_as_orcha_stops_fails_with_actor_gone_never_hangs(tmp_path, autojump_clock):
    """A Steer put in the mailbox in the same scheduling batch as orcha cancels the actor: whichever trio runs
    first, the caller gets ActorGone at once (the envelope is never dropped between mailbox and inbox). Trio
    orders a batch at random, so a few rounds cover both orders."""
    for round_ in range(8):
        folder = tmp_path / f"round{round_}"
        folder.mkdir()
        async with a_session(folder) as rig:
            await rig.place()
            steer = Timed()

            async def call_steer(rig: Rig = rig, steer: Timed = steer) -> None:
                try:
                    await rig.actor.mailbox.call(Steer(text="one more thing"))
                except ActorGone as exc:
                    steer.error = exc
                steer.at = trio.current_time()
                steer.done.set()

            async def orcha_stops(rig: Rig = rig) -> None:
                rig.stop.cancel()

            start = trio.current_time()
            rig.nursery.start_soon(call_steer)
            rig.nursery.start_soon(orcha_stops)
            with trio.move_on_after(60):
                await steer.done.wait()
            assert isinstance(steer.error, ActorGone), f"round {round_}: the call hung"
            assert steer.at == start


# --- the objective ended in the store, its ObjectiveEnded still on its way ----------------------------------


async def test_a_worker_whose_objective_ended_during_its_turn_is_canceled_not_completed(tmp_path, autojump_clock):
    """The completing move is made only while the objective is active (checked in its transaction)."""
    async with a_session(tmp_path) as rig:
        run = await rig.place()
        rig.store.finish_objective(rig.session.objective_id, ObjectiveStatus.CANCELED)  # no message yet
        run.feed(TurnCompleted(final_text="all done"))
        await rig.ended.wait()
        session = rig.now()
        assert (session.status, session.status_reason) == (S.CANCELED, "objective canceled")
        assert rig.store.list_owned_processes() == []


async def test_a_worker_with_nothing_to_prepare_moves_to_running_in_the_placements_one_write(
    tmp_path, autojump_clock, monkeypatch
):
    async with a_session(tmp_path) as rig:
        writes: list[str] = []
        for name in ("update_session_status", "start_running"):
            method = getattr(rig.store, name)
            monkeypatch.setattr(
                rig.store, name, lambda *a, _m=method, _n=name, **k: (writes.append(_n), _m(*a, **k))[1]
            )
        rig.store.claim_target_slot(rig.target.id, rig.session.id)
        assert await rig.actor.mailbox.call(Place(target_id=rig.target.id, target=rig.target)) is None
        assert rig.now().status is S.RUNNING  # when the scheduler hears back, it runs (no "starting" in between)
        run = await rig.provider.next_run()
        assert writes == ["start_running"]
        moves = [
            e.data["new"] for e in rig.store.events_after(0, session_id=rig.session.id) if e.kind == "session_status"
        ]
        assert moves == ["starting", "running"]  # the history is the usual one
        assert rig.now().mode is SessionMode.INTERACTIVE and rig.now().started_at is not None
        assert run.request.executor == StubExecutor(name="executor:local")
        assert rig.fakes.executors.asked == [rig.target.id]


async def test_a_worker_placed_after_its_objective_ended_starts_no_turn(tmp_path, autojump_clock):
    async with a_session(tmp_path) as rig:
        rig.store.finish_objective(rig.session.objective_id, ObjectiveStatus.CANCELED)
        rig.store.claim_target_slot(rig.target.id, rig.session.id)
        await rig.actor.mailbox.call(Place(target_id=rig.target.id, target=rig.target))
        await rig.ended.wait()
        assert rig.now().status is S.CANCELED
        assert rig.provider.log == []  # no process was started
        assert rig.fakes.executors.asked == [rig.target.id]  # its executor, from the target it was placed on
