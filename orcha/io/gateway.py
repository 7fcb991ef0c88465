"""Async access to the store for trio code: store calls run one at a time, in the order they were made.

The store is synchronous and each call is one short transaction, so a transaction never spans an ``await``.
Where a call runs is the gateway's mode:

- on its worker thread (the default; the web's reader, whose queries may be long): callers queue their calls
  and the thread runs them back to back, each result handed to its caller's trio task as it is done. So the
  calls waiting behind one another never wait for the trio thread between them: when trio is busy, the store
  is not idle;
- ``on_loop=True`` (orcha's writer): a short call runs on the trio thread itself when the store is idle, with
  no thread hop. A hop costs more than most calls (the thread's wake-up, the result's way back through trio's
  wake-up socket, the GIL changing hands twice: figures 7 and 10 of ``docs/performance.md``). The short calls
  made in one turn of trio's loop run together at the next, in the order they were made, in one transaction
  (``Database.group``: each call's own transaction a savepoint inside it), so a burst of small writes pays
  one commit, and each caller gets its result once that commit is done (a group whose transaction fails
  fails every call of it: nothing of them is stored). A call said to be long (``long=True``: a big
  transcript commit, a read of every live session) goes to the worker thread, so the loop is not held up,
  and the calls made meanwhile queue behind it, in order (a group formed meanwhile runs there too, after it);
- ``inline=True``: every call on the trio thread, which tests on a virtual clock use (trio's autojump clock
  would otherwise jump while a worker thread runs).

In every mode the calls run one at a time on one connection: a call on the trio thread runs only when no call
is queued or running on the worker.
"""

from __future__ import annotations

import collections
import contextlib
import contextvars
import functools
import threading
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import outcome
import trio

from orcha.errors import StoreError
from orcha.io.store import Store
from orcha.ports import Db
from orcha.store_port import StorePort

R = TypeVar("R")

IDLE_SECONDS = 10.0
"""The worker thread exits after this long without a call (the next call starts a new one)."""
AHEAD_SECONDS = 0.002
"""With more calls waiting, the worker runs them back to back for this long at most; then it lets the trio
thread take its results before it goes on (they share the GIL: the trio thread is never starved of it)."""
TAKE_SECONDS = 0.001
"""How long the worker waits at most for the trio thread to take a result, when it has run ahead."""


class _Call(Generic[R]):
    """One queued call: the function, its caller's context and task, and whether it still waits to run."""

    __slots__ = ("context", "fn", "gateway", "started", "task", "token", "withdrawn")

    def __init__(self, fn: Callable[[Store], R], gateway: StoreGateway) -> None:
        self.fn = fn
        self.gateway = gateway
        self.context = contextvars.copy_context()
        self.task = trio.lowlevel.current_task()
        self.token = trio.lowlevel.current_trio_token()
        self.started = False
        self.withdrawn = False


class _Member:
    """A call of a group: the function, its caller's context and task, and (once the group ran) its outcome."""

    __slots__ = ("context", "fn", "result", "task", "withdrawn")

    def __init__(self, fn: Callable[[Store], Any]) -> None:
        self.fn = fn
        self.context = contextvars.copy_context()
        self.task = trio.lowlevel.current_task()
        self.withdrawn = False
        self.result: outcome.Outcome[Any] | None = None


class _Group:
    """The calls made on the trio thread in one turn of its loop: one transaction runs them all."""

    __slots__ = ("members", "started")

    def __init__(self) -> None:
        self.members: list[_Member] = []
        self.started = False


def _not_run() -> outcome.Error:
    return outcome.Error(StoreError("the store call did not run: its group failed before it"))


def _run_group(group: _Group, lock: threading.Lock, store: Store) -> None:
    """Run the group's calls in order, in one transaction when there are several (a call alone has its own);
    each member's outcome is set. If the group's transaction fails (it cannot begin or commit, or SQLite lost
    it), none of what the calls wrote is stored: every member gets the error."""
    with lock:
        group.started = True
        members = [m for m in group.members if not m.withdrawn]
    if len(members) == 1:
        members[0].result = outcome.capture(members[0].context.run, members[0].fn, store)
        return
    try:
        with store.database.group():
            for member in members:
                member.result = outcome.capture(member.context.run, member.fn, store)
    except StoreError as exc:  # (an outcome and an exception each: they are unwrapped in different tasks)
        for member in members:
            member.result = outcome.Error(StoreError(f"{exc} (the store calls made with it were not stored either)"))


class StoreGateway:
    """Implements :data:`orcha.ports.Db` (a ``StoreAccess[StorePort]``) over a :class:`Store`."""

    def __init__(self, store: Store, *, inline: bool = False, on_loop: bool = False) -> None:
        self.store = store
        self.inline = inline
        self.on_loop = on_loop
        self._outstanding = 0
        """Calls queued for the worker or running there whose result the trio thread has not taken yet (kept
        by the trio thread alone): a call runs on the trio thread only when there is none."""
        self._lock = threading.Lock()
        self._calls: collections.deque[_Call[Any]] = collections.deque()
        self._ready = threading.Condition(self._lock)
        self._worker: threading.Thread | None = None
        self._group: _Group | None = None
        """The calls made on the trio thread this turn of its loop, run together at the next (``on_loop``)."""

    async def run(self, fn: Callable[[Store], R], *, long: bool = False) -> R:
        """Run ``fn(store)``; it is not abandoned on cancellation once it has started, so its transaction
        always completes (a call cancelled while it still waits in the queue is withdrawn, never run).
        ``long``: the call may take long (many rows), so it never runs on the trio thread with ``on_loop``."""
        if self.inline:
            await trio.lowlevel.checkpoint()
            return fn(self.store)
        if self.on_loop and not long:
            if self._group is not None:  # a group waits for the loop's next turn: this call goes with it
                return await self._join(self._group, fn)
            if not self._outstanding:
                return await self._lead(fn)
        return await self._queue(fn)

    async def _queue(self, fn: Callable[[Store], R]) -> R:
        """Run ``fn`` on the worker thread, after the calls queued there before it."""
        await trio.lowlevel.checkpoint_if_cancelled()
        queued: _Call[R] = _Call(fn, self)
        self._outstanding += 1
        with self._lock:
            self._calls.append(queued)
            if self._worker is None:
                self._worker = threading.Thread(target=self._work, name="orcha-store", daemon=True)
                self._worker.start()
            else:
                self._ready.notify()

        def abort(_raise_cancel: Any) -> trio.lowlevel.Abort:
            with self._lock:
                if queued.started:
                    return trio.lowlevel.Abort.FAILED  # running: its result comes, then the cancel
                queued.withdrawn = True
            self._outstanding -= 1
            return trio.lowlevel.Abort.SUCCEEDED

        result: R = await trio.lowlevel.wait_task_rescheduled(abort)  # the call's value, or its exception
        return result

    async def _lead(self, fn: Callable[[Store], R]) -> R:
        """Open a group for the calls made on the trio thread until its loop's next turn, then run them all in
        one transaction (``Database.group``): on the trio thread, or on the worker if a call went there
        meanwhile (one at a time on the connection, whatever happens). The leader's own call is the first."""
        await trio.lowlevel.checkpoint_if_cancelled()
        group = self._group = _Group()
        own = _Member(fn)
        group.members.append(own)
        try:
            try:
                await trio.lowlevel.cancel_shielded_checkpoint()  # one turn: the calls made meanwhile join it
            finally:
                self._group = None
            if self._outstanding:  # a call on the worker now: the group runs there, after it
                with trio.CancelScope(shield=True):
                    await self._queue(functools.partial(_run_group, group, self._lock))
            else:
                _run_group(group, self._lock, self.store)
        finally:
            for member in group.members[1:]:  # every member is answered, whatever happened to the group
                if not member.withdrawn:
                    trio.lowlevel.reschedule(member.task, member.result or _not_run())
        assert own.result is not None
        return own.result.unwrap()

    async def _join(self, group: _Group, fn: Callable[[Store], R]) -> R:
        await trio.lowlevel.checkpoint_if_cancelled()
        member = _Member(fn)
        group.members.append(member)

        def abort(_raise_cancel: Any) -> trio.lowlevel.Abort:
            with self._lock:
                if group.started:
                    return trio.lowlevel.Abort.FAILED  # running: its result comes, then the cancel
                member.withdrawn = True
            return trio.lowlevel.Abort.SUCCEEDED

        result: R = await trio.lowlevel.wait_task_rescheduled(abort)
        return result

    def _work(self) -> None:
        ahead_since: float | None = None
        """Since when the worker has run calls back to back (others waiting after each)."""
        while True:
            with self._lock:
                while not self._calls:
                    if not self._ready.wait(IDLE_SECONDS) and not self._calls:
                        self._worker = None
                        return
                queued = self._calls.popleft()
                if queued.withdrawn:
                    continue
                queued.started = True
            result = outcome.capture(queued.context.run, queued.fn, self.store)
            catch_up = False
            if self._calls:  # more waiting: back to back for a while, the trio thread takes this one first
                now = time.monotonic()
                ahead_since = now if ahead_since is None else ahead_since
                catch_up = now - ahead_since >= AHEAD_SECONDS
            else:
                ahead_since = None
            taken = threading.Event() if catch_up else None  # (only then: most calls need no event)
            with contextlib.suppress(trio.RunFinishedError):  # its caller's run is gone: nobody waits for it
                queued.token.run_sync_soon(_deliver, queued.gateway, queued.task, result, taken)
            del queued, result
            if taken is not None:
                taken.wait(TAKE_SECONDS)
                ahead_since = None


def _deliver(
    gateway: StoreGateway, task: trio.lowlevel.Task, result: outcome.Outcome[Any], taken: threading.Event | None
) -> None:
    gateway._outstanding -= 1
    if taken is not None:
        taken.set()
    trio.lowlevel.reschedule(task, result)


def _conforms(gateway: StoreGateway, store: Store) -> tuple[Db, StorePort]:
    """Never called: here mypy proves the gateway is a ``Db`` and the store a ``StorePort`` (signatures and all)."""
    return gateway, store
