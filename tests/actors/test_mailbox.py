"""Calls never hang: a stopping, crashing or cancelled actor fails its callers with ActorGone, at once."""

from __future__ import annotations

import outcome
import pytest
import trio
import trio.testing

from orcha.actors.mailbox import ActorGone, Mailbox, Reply, answer
from orcha.errors import ConflictError, NotFoundError


async def _answer_one_then_stop(mailbox: Mailbox[str]) -> None:
    """An actor that answers its first call and stops (like an objective actor after Finish)."""
    try:
        async for envelope in mailbox:
            await answer(envelope, _value(f"done {envelope.message}"))
            return
    finally:
        mailbox.close()


async def _call(mailbox: Mailbox[str], message: str, into: list[object]) -> None:
    """A caller that keeps what its call gave: the answer, or the ActorGone it raised."""
    try:
        into.append(await mailbox.call(message))
    except ActorGone as exc:
        into.append(exc)


def _value(value):
    async def get():
        return value

    return get


async def test_two_callers_queued_on_an_actor_that_stops_both_get_an_answer_at_once(autojump_clock):
    mailbox: Mailbox[str] = Mailbox("objective:o1")
    results: dict[str, object] = {}

    async def caller(name: str) -> None:
        try:
            results[name] = await mailbox.call(name)
        except ActorGone as exc:
            results[name] = exc

    async with trio.open_nursery() as nursery:
        nursery.start_soon(caller, "first")
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(caller, "second")
        await trio.testing.wait_all_tasks_blocked()  # both calls are queued, in order, before the actor runs
        started = trio.current_time()
        nursery.start_soon(_answer_one_then_stop, mailbox)
    assert trio.current_time() == started  # nobody waited: no virtual second passed
    assert results["first"] == "done first"
    assert isinstance(results["second"], ActorGone) and "stopped" in str(results["second"])
    assert isinstance(results["second"], ConflictError)  # the web answers 409


async def test_a_call_after_the_actor_stopped_fails_at_once():
    mailbox: Mailbox[str] = Mailbox("session:s1")
    mailbox.close()
    mailbox.close()  # idempotent
    with pytest.raises(ActorGone, match="not running"):
        await mailbox.call("steer")
    assert mailbox.cast("notify") is False


async def test_a_caller_blocked_on_a_full_inbox_is_released_when_it_closes(autojump_clock):
    mailbox: Mailbox[str] = Mailbox("session:s1", size=1)
    assert mailbox.cast("fills the inbox")
    outcome: list[BaseException] = []

    async def caller() -> None:
        try:
            await mailbox.call("waits for room")
        except ActorGone as exc:
            outcome.append(exc)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(caller)
        await trio.testing.wait_all_tasks_blocked()
        mailbox.close()
    assert len(outcome) == 1


async def test_a_call_on_a_full_inbox_waits_for_room_and_is_answered_in_order(autojump_clock):
    mailbox: Mailbox[str] = Mailbox("objective:o1", size=1)
    assert mailbox.cast("first")
    seen: list[str] = []
    answers: list[str] = []

    async def actor() -> None:
        async for envelope in mailbox:
            seen.append(envelope.message)
            await answer(envelope, _value("ok"))

    async def caller() -> None:
        answers.append(await mailbox.call("second"))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(caller)
        await trio.testing.wait_all_tasks_blocked()
        assert answers == []  # blocked: no room
        nursery.start_soon(actor)
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    assert (seen, answers) == (["first", "second"], ["ok"])


async def test_a_call_in_hand_when_the_actor_is_cancelled_gets_actor_gone_not_the_cancellation(autojump_clock):
    mailbox: Mailbox[str] = Mailbox("session:s1")
    seen: list[object] = []
    actor_scope = trio.CancelScope()

    async def actor() -> None:
        with actor_scope:
            async for envelope in mailbox:
                await answer(envelope, trio.sleep_forever)  # the call is in hand when the cancel comes

    async with trio.open_nursery() as nursery:
        nursery.start_soon(actor)
        nursery.start_soon(_call, mailbox, "slow", seen)
        await trio.testing.wait_all_tasks_blocked()
        actor_scope.cancel()
    assert len(seen) == 1 and isinstance(seen[0], ActorGone)


async def test_a_refusal_reaches_the_caller_and_the_actor_lives_on():
    mailbox: Mailbox[str] = Mailbox("target:t1")

    async def refuse():
        raise NotFoundError("target", "t9")

    async with trio.open_nursery() as nursery:

        async def actor() -> None:
            async for envelope in mailbox:
                await answer(envelope, refuse)

        nursery.start_soon(actor)
        for _ in range(2):
            with pytest.raises(NotFoundError):
                await mailbox.call("doctor")
        mailbox.close()


async def test_a_cast_that_fails_unexpectedly_crashes_the_actor():
    mailbox: Mailbox[str] = Mailbox("objective:o1")

    async def broken():
        raise RuntimeError("bug")

    assert mailbox.cast("session ended")
    with pytest.raises(RuntimeError, match="bug"):
        async for envelope in mailbox:
            await answer(envelope, broken)


async def test_a_delivering_mailbox_hands_each_envelope_over_at_once_and_refuses_once_closed(autojump_clock):
    """A session actor's mailbox puts envelopes straight into the actor's own queue: no task moves them."""
    delivered: list[str] = []
    queue_send, queue = trio.open_memory_channel(100)

    def deliver(envelope) -> None:
        delivered.append(envelope.message)
        queue_send.send_nowait(envelope)

    mailbox: Mailbox[str] = Mailbox("session:s1", deliver=deliver)
    assert mailbox.cast("notify") is True
    assert delivered == ["notify"]  # in the sender's task, before it yields
    results: list[object] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_call, mailbox, "steer", results)
        nursery.start_soon(_call, mailbox, "steer", results)
        await trio.testing.wait_all_tasks_blocked()
        assert delivered == ["notify", "steer", "steer"]
        (await queue.receive()).abandon()  # the cast
        await answer(await queue.receive(), _value("steered"))
        mailbox.close()  # what the actor does when it ends: the call still in its queue is abandoned
        (await queue.receive()).abandon()
    assert results[0] == "steered" and isinstance(results[1], ActorGone)
    with pytest.raises(ActorGone, match="not running"):
        await mailbox.call("late")
    assert mailbox.cast("late") is False and delivered == ["notify", "steer", "steer"]


async def test_a_reply_keeps_its_first_answer_and_a_cancelled_caller_leaves_nothing_behind(autojump_clock):
    """The one-shot reply: first answer wins, an abandon after it changes nothing, an answer that came before
    the caller waited is there (after a checkpoint), and a caller cancelled while waiting is not woken later."""
    early = Reply("session:s1")
    early.send(outcome.Value("first"))
    early.send(outcome.Value("second"))
    early.abandon()
    with trio.testing.assert_checkpoints():
        assert await early.wait() == "first"

    gone = Reply("session:s1")
    gone.abandon()
    with pytest.raises(ActorGone, match="stopped before answering"):
        await gone.wait()

    late = Reply("session:s1")
    with trio.move_on_after(1) as scope:
        await late.wait()
    assert scope.cancelled_caught
    late.send(outcome.Value("too late"))  # nobody waits: no task is rescheduled (trio would raise if one were)
    assert await late.wait() == "too late"  # the answer is kept, as a reply channel's would be in its buffer


async def test_a_call_answered_at_once_costs_the_caller_no_extra_turn_of_the_loop():
    """The caller wakes with the answer: it gives up no turn to put the message in (an inbox with room), nor to
    close a reply channel."""
    mailbox: Mailbox[str] = Mailbox("objective:o1")
    caller = trio.lowlevel.current_task()
    steps = [0]

    class CallerSteps(trio.abc.Instrument):
        def before_task_step(self, task: trio.lowlevel.Task) -> None:
            if task is caller:
                steps[0] += 1

    async def actor() -> None:
        async for envelope in mailbox:
            await answer(envelope, _value("ok"))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(actor)
        await trio.testing.wait_all_tasks_blocked()
        trio.lowlevel.add_instrument(instrument := CallerSteps())
        try:
            assert await mailbox.call("go") == "ok"
        finally:
            trio.lowlevel.remove_instrument(instrument)
        nursery.cancel_scope.cancel()
    assert steps[0] == 1  # woken with the answer (a channel send's checkpoint made 2, a reply channel 3)
