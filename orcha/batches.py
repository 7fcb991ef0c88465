"""An async iterator over batches a step coroutine produces: a stream a reader may drop half-read.

An async generator dropped before its end is finalized later by the garbage collector (trio warns: it may
still hold resources). :class:`Batches` holds nothing to finalize, so a reader that stops early (a
cancelled session, a test that read one turn) needs no ``aclosing``.
"""

from __future__ import annotations

import collections
from collections.abc import Awaitable, Callable, Iterable
from typing import Generic, TypeVar

T = TypeVar("T")


class Batches(Generic[T]):
    """The items of each batch ``step`` returns, in order, until it returns ``None``."""

    def __init__(self, step: Callable[[], Awaitable[Iterable[T] | None]]) -> None:
        self._step = step
        self._queue: collections.deque[T] = collections.deque()
        self._done = False

    def __aiter__(self) -> Batches[T]:
        return self

    async def __anext__(self) -> T:
        while not self._queue:
            if self._done:
                raise StopAsyncIteration
            batch = await self._step()
            if batch is None:
                self._done = True
            else:
                self._queue.extend(batch)
        return self._queue.popleft()

    def ready(self, limit: int) -> list[T]:
        """Up to ``limit`` of the items already at hand (the rest of the batches taken so far), without waiting:
        a reader that handles many at once takes them in one step (a bounded one: the loop is not held long)."""
        queue = self._queue
        return [queue.popleft() for _ in range(min(limit, len(queue)))]
