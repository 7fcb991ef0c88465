"""Batches: the items of each batch a step produces, in order; what is at hand is taken without waiting."""

from __future__ import annotations

import trio

from orcha.batches import Batches


def _batches(*batches: list[int]) -> Batches[int]:
    queue = list(batches)

    async def step() -> list[int] | None:
        await trio.lowlevel.checkpoint()
        return queue.pop(0) if queue else None

    return Batches(step)


async def test_items_come_in_order_across_batches_and_empty_ones():
    assert [item async for item in _batches([1, 2], [], [3])] == [1, 2, 3]


async def test_ready_takes_at_most_so_many_of_the_batches_read_so_far_and_never_waits():
    items = _batches([1, 2, 3, 4], [5])
    assert items.ready(10) == []  # nothing read yet: nothing at hand (and no step run for it)
    assert await anext(items) == 1
    assert items.ready(2) == [2, 3]
    assert items.ready(10) == [4]
    assert items.ready(10) == []
    assert await anext(items) == 5
    assert await anext(items, None) is None
