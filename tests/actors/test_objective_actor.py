"""The objective actor alone: recording fakes for its collaborators, fake session inboxes, the real store."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence

import attrs
import pytest
import trio
import trio.testing

from orcha.actors.mailbox import ActorGone
from orcha.actors.messages import Finish, ObjectiveEnded, SessionEnded, Spawn
from orcha.actors.objective import ObjectiveActor, ObjectiveDeps, SessionInbox
from orcha.agents.registry import ProviderRegistry
from orcha.errors import InvalidInputError
from orcha.io.gateway import StoreGateway
from orcha.io.store import Store
from orcha.model import Objective, ObjectiveStatus, Session, SessionStatus
from tests.actors.fakes import (
    FakeSessionInbox,
    RecordingAnnounce,
    RecordingQuestions,
    ScriptedProvider,
    Wakes,
    timed_call,
    wall_clock,
)


@attrs.define
class Rig:
    store: Store
    objective: Objective
    actor: ObjectiveActor
    started: list[Session]
    inboxes: list[FakeSessionInbox]
    announce: RecordingAnnounce
    wakes: Wakes
    questions: RecordingQuestions
    canceled: list[tuple[str, str]]
    exited: list[str]
    ended: trio.Event
    nursery: trio.Nursery

    def add_inbox(self, session_id: str, *, answer_after: float = 0.0) -> FakeSessionInbox:
        inbox = FakeSessionInbox(session_id, answer_after=answer_after)
        self.inboxes.append(inbox)
        self.nursery.start_soon(inbox.serve)
        return inbox


@contextlib.asynccontextmanager
async def an_objective(tmp_path) -> AsyncIterator[Rig]:
    store = Store(tmp_path / "orcha.db", clock=wall_clock)
    db = StoreGateway(store, inline=True)
    objective, _manager = store.create_objective(title="t", prompt="p", agent="scripted")
    started: list[Session] = []
    inboxes: list[FakeSessionInbox] = []
    canceled: list[tuple[str, str]] = []
    exited: list[str] = []

    def sessions_of(objective_id: str) -> Sequence[SessionInbox]:
        assert objective_id == objective.id
        return list(inboxes)

    async def cancel_session(session_id: str, reason: str) -> Session:
        canceled.append((session_id, reason))
        return store.update_session_status(session_id, SessionStatus.CANCELED, reason=reason)

    notices: list[tuple[str, str, str]] = []

    async def notify_manager(objective_id: str, kind: str, text: str) -> None:
        notices.append((objective_id, kind, text))

    announce, wakes, questions = RecordingAnnounce(), Wakes(), RecordingQuestions(db)
    deps = ObjectiveDeps(
        db=db,
        providers=ProviderRegistry({"scripted": ScriptedProvider()}),
        start_session=started.append,
        sessions_of=sessions_of,
        wake_scheduler=wakes,
        announce=announce,
        cancel_session=cancel_session,
        questions=questions,
        notify_manager=notify_manager,
    )
    actor = ObjectiveActor(deps, objective.id, on_exit=exited.append)
    ended = trio.Event()

    async def run_actor() -> None:
        try:
            await actor.run()
        finally:
            ended.set()

    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(run_actor)
            yield Rig(
                store, objective, actor, started, inboxes, announce, wakes, questions, canceled, exited, ended, nursery
            )
            nursery.cancel_scope.cancel()
    finally:
        store.close()


async def test_spawn_creates_a_queued_session_and_starts_its_actor(tmp_path, autojump_clock):
    async with an_objective(tmp_path) as rig:
        session = await rig.actor.mailbox.call(Spawn(prompt="write the docs", agent="scripted"))
        assert rig.store.get_session(session.id).status is SessionStatus.QUEUED
        assert (session.objective_id, session.prompt, session.agent) == (rig.objective.id, "write the docs", "scripted")
        assert [s.id for s in rig.started] == [session.id]
        assert rig.announce.calls == [("session", session.id)]
        assert rig.wakes.count == 1


async def test_a_spawn_for_an_unknown_agent_is_refused_and_starts_nothing(tmp_path, autojump_clock):
    async with an_objective(tmp_path) as rig:
        with pytest.raises(InvalidInputError, match="unknown agent 'nobody'"):
            await rig.actor.mailbox.call(Spawn(prompt="p", agent="nobody"))
        assert rig.started == [] and rig.wakes.count == 0
        assert not rig.ended.is_set()  # a refused request does not stop the actor


async def test_finish_writes_the_objective_and_tells_each_live_session(tmp_path, autojump_clock):
    async with an_objective(tmp_path) as rig:
        manager = rig.add_inbox("session_manager")
        worker = rig.add_inbox("session_worker", answer_after=5)
        question = rig.store.ask_question(objective_id=rig.objective.id, text="which colour?")
        start = trio.current_time()
        done = await rig.actor.mailbox.call(
            Finish(status=ObjectiveStatus.DONE, summary="shipped", completed_by="session_manager")
        )
        assert trio.current_time() == start + 5  # it waited for the worker's end, not for the manager's
        assert (done.status, done.summary) == (ObjectiveStatus.DONE, "shipped")
        assert rig.store.get_objective(rig.objective.id).status is ObjectiveStatus.DONE
        ended = ObjectiveEnded(status=ObjectiveStatus.DONE, completed_by="session_manager")
        assert [(message, was_call) for message, was_call, _ in manager.told] == [(ended, False)]  # a cast
        assert [(message, was_call) for message, was_call, _ in worker.told] == [(ended, True)]  # a call
        assert ("objective", rig.objective.id) in rig.announce.calls and rig.wakes.count == 1
        assert rig.questions.closes == [(question.id, "objective done")]  # nobody will act on it any more
        await rig.ended.wait()  # an ended objective's actor stops
        assert rig.exited == [rig.objective.id]


async def test_a_second_finish_queued_behind_the_first_gets_actor_gone_at_once(tmp_path, autojump_clock):
    async with an_objective(tmp_path) as rig:
        rig.add_inbox("session_worker", answer_after=10)
        first = timed_call(rig.nursery, rig.actor.mailbox, Finish(status=ObjectiveStatus.DONE))
        await trio.testing.wait_all_tasks_blocked()  # the first Finish waits on the worker's end
        second = timed_call(rig.nursery, rig.actor.mailbox, Finish(status=ObjectiveStatus.CANCELED))
        await first.done.wait()
        await second.done.wait()
        assert first.error is None and first.value.status is ObjectiveStatus.DONE
        assert isinstance(second.error, ActorGone)
        assert first.at == second.at == 10  # the second caller learns it the moment the actor stops
        assert rig.store.get_objective(rig.objective.id).status is ObjectiveStatus.DONE
        with pytest.raises(ActorGone):  # and any later call fails at once
            await rig.actor.mailbox.call(Spawn(prompt="p", agent="scripted"))


async def test_a_failed_session_cancels_the_sessions_that_depend_on_it(tmp_path, autojump_clock):
    async with an_objective(tmp_path) as rig:
        first = await rig.actor.mailbox.call(Spawn(prompt="build", agent="scripted"))
        then = await rig.actor.mailbox.call(Spawn(prompt="test", agent="scripted", depends_on=(first.id,)))
        other = await rig.actor.mailbox.call(Spawn(prompt="docs", agent="scripted"))
        rig.store.update_session_status(first.id, SessionStatus.FAILED, reason="broke")
        rig.actor.mailbox.cast(SessionEnded(session_id=first.id, status=SessionStatus.FAILED))
        await trio.testing.wait_all_tasks_blocked()
        assert rig.canceled == [(then.id, f"dependency {first.id} did not complete")]
        assert rig.store.get_session(other.id).status is SessionStatus.QUEUED
        rig.actor.mailbox.cast(SessionEnded(session_id=other.id, status=SessionStatus.COMPLETED))
        await trio.testing.wait_all_tasks_blocked()
        assert len(rig.canceled) == 1  # a completed session cancels nothing
