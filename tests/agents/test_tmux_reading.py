"""A pane's reader output, parsed a bounded step at a time: a burst's thousands of lines, in order, each with
its offset, and never all in one step of the loop (no tmux needed: the reader is a stand-in)."""

from __future__ import annotations

import itertools

import trio

from orcha.agents.contract import ProviderSessionStarted, TextOut, TurnCompleted
from orcha.agents.tmux import AT_ONCE, EXIT_MARK, TmuxRun
from orcha.batches import Batches


class _Reader:
    """What ``tail | sed -n 'l 0;z;p'`` prints for ``lines``, as one read (the pipe's whole burst)."""

    def __init__(self, lines: list[str]) -> None:
        self._listed = [out for line in lines for out in (f"{line}\\r$", "")]

    def lines(self) -> Batches[str]:
        reads = [self._listed]

        async def step() -> list[str] | None:
            await trio.lowlevel.checkpoint()
            return reads.pop(0) if reads else None

        return Batches(step)


async def test_a_burst_comes_whole_in_order_with_offsets_a_bounded_step_at_a_time():
    lines = [str(n) for n in range(1, 5001)]
    run = TmuxRun(None, "orcha-ses_x", _Reader([*lines, f"{EXIT_MARK} 0", "after the end"]))  # type: ignore[arg-type]
    events = run.events()
    assert isinstance(await anext(events), ProviderSessionStarted)
    first_step = [await anext(events), *events.ready(10**6)]  # what the first step of the burst parsed
    assert len(first_step) == AT_ONCE // 2  # (two reader lines a pane line): a bounded step, not the whole burst
    got = [*first_step, *[event async for event in events]]
    assert [e.text for e in got if isinstance(e, TextOut)] == lines
    ends = [len(line) + 2 for line in lines]  # "n\r\n" in the log
    assert [e.offset for e in got if isinstance(e, TextOut)] == list(itertools.accumulate(ends))
    assert isinstance(got[-1], TurnCompleted) and not got[-1].failed  # and nothing after the program's end
