"""The pump between an agent run and its session actor: plain output taken as it comes, decisions on demand."""

from __future__ import annotations

import trio
import trio.testing

from orcha.actors.session_run import YIELD_EVERY, AgentItem, AgentRunPump, RunClosed
from orcha.agents.contract import TextOut, TurnCompleted


class BurstRun:
    """A run whose events are all there at once (one big pipe read): no checkpoint between them."""

    def __init__(self, lines: int) -> None:
        self._events = [TextOut(text=f"line {n}") for n in range(lines)] + [TurnCompleted(final_text="done")]

    def events(self) -> BurstRun:
        return self

    def __aiter__(self) -> BurstRun:
        return self

    async def __anext__(self):
        if not self._events:
            await trio.sleep_forever()
        return self._events.pop(0)

    async def send(self, text: str) -> None:
        await trio.lowlevel.checkpoint()

    async def cancel(self) -> None:
        await trio.lowlevel.checkpoint()


def _taking(taken: list[str]):
    """A ``take_output`` that takes every line of text (into ``taken``) and nothing else."""

    def take(generation: int, event) -> bool:
        if isinstance(event, TextOut):
            taken.append(event.text)
            return True
        return False

    return take


async def test_a_burst_of_output_is_taken_without_the_inbox_and_lets_the_rest_run_now_and_then(autojump_clock):
    put: list[AgentItem | RunClosed] = []
    taken: list[str] = []
    others_ran_during_the_burst = 0

    def into_inbox(item: AgentItem | RunClosed) -> None:
        put.append(item)

    pump = AgentRunPump(into_inbox, _taking(taken))
    async with trio.open_nursery() as nursery:

        async def another_task() -> None:
            nonlocal others_ran_during_the_burst
            while not put:
                if taken:
                    others_ran_during_the_burst += 1
                await trio.lowlevel.checkpoint()

        nursery.start_soon(another_task)
        pump.open(BurstRun(3 * YIELD_EVERY + 10), nursery)
        pump.want()
        await trio.testing.wait_all_tasks_blocked()
        assert len(taken) == 3 * YIELD_EVERY + 10  # every line taken as it came, none through the inbox
        assert [type(item.event) for item in put if isinstance(item, AgentItem)] == [TurnCompleted]
        assert others_ran_during_the_burst >= 2  # the pump let the rest run every YIELD_EVERY lines (none before)
        await pump.close()
        nursery.cancel_scope.cancel()


async def test_a_closed_runs_pump_leaves_the_next_runs_demand_alone(autojump_clock):
    """The old run's pump ends after the new run opened: the new run's outstanding want is kept, so the actor
    is never handed two events for one want."""
    put: list[AgentItem | RunClosed] = []

    def into_inbox(item: AgentItem | RunClosed) -> None:
        put.append(item)

    pump = AgentRunPump(into_inbox)
    async with trio.open_nursery() as nursery:
        first = BurstRun(0)
        pump.open(first, nursery)
        await pump.close()  # the first pump is cancelled, not yet gone
        second = BurstRun(2)
        pump.open(second, nursery)
        pump.want()
        await trio.testing.wait_all_tasks_blocked()
        events = [item.event for item in put if isinstance(item, AgentItem) and item.generation == pump.generation]
        assert events == [TextOut(text="line 0")]  # one want, one event, whatever the old pump did meanwhile
        pump.want()
        await trio.testing.wait_all_tasks_blocked()
        events = [item.event for item in put if isinstance(item, AgentItem) and item.generation == pump.generation]
        assert events == [TextOut(text="line 0"), TextOut(text="line 1")]
        nursery.cancel_scope.cancel()


async def test_the_pump_waits_for_room_only_while_the_writer_is_full(autojump_clock):
    """Each line taken as it came asks ``full()``; ``room()`` is awaited (and holds the pump) only when it says so."""
    taken: list[str] = []
    waits: list[int] = []
    full_after = 5

    def into_inbox(item: AgentItem | RunClosed) -> None:
        pass

    async def room() -> None:
        waits.append(len(taken))
        await trio.sleep(1.0)  # the writer's commit

    pump = AgentRunPump(into_inbox, _taking(taken), room, lambda: len(taken) >= full_after)
    async with trio.open_nursery() as nursery:
        pump.open(BurstRun(8), nursery)
        pump.want()
        await trio.sleep(0.5)
        assert taken == [f"line {n}" for n in range(full_after)] and waits == [full_after]  # held at the bound
        await trio.testing.wait_all_tasks_blocked()
        await trio.sleep(5)
        assert len(taken) == 8 and waits == [5, 6, 7, 8]  # full from then on: a wait a line
        await pump.close()
        nursery.cancel_scope.cancel()
