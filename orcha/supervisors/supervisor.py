"""A one-for-one supervisor: a nursery whose children are restarted per policy, within an intensity.

The vocabulary is OTP's. Each child has a restart kind: ``permanent`` (always restarted), ``transient``
(restarted only after a crash) or ``temporary`` (never restarted). One child crashing never cancels its
siblings. After more than ``max_restarts`` restarts within ``window`` seconds the supervisor gives up and
raises :class:`SupervisorGaveUp`, which its own supervisor sees as a crash (escalation).
"""

from __future__ import annotations

import collections
import enum
import logging
from collections.abc import Awaitable, Callable

import attrs
import trio

from orcha.errors import OrchaError

log = logging.getLogger(__name__)


class Restart(enum.StrEnum):
    PERMANENT = "permanent"
    TRANSIENT = "transient"
    TEMPORARY = "temporary"


@attrs.frozen(kw_only=True)
class Intensity:
    """At most ``max_restarts`` restarts within ``window`` seconds (virtual time in tests)."""

    max_restarts: int = 5
    window: float = 10.0


CrashHook = Callable[[str, BaseException], Awaitable[None]]


@attrs.frozen(kw_only=True)
class ChildSpec:
    """What to run (``run``, called afresh on every restart), how to restart it, and whom to tell of a crash."""

    name: str
    run: Callable[[], Awaitable[None]]
    restart: Restart = Restart.TRANSIENT
    on_crash: CrashHook | None = None


@attrs.frozen(kw_only=True)
class SupervisorStatistics:
    name: str
    children: tuple[str, ...]
    restarts: int
    crashes: int


class SupervisorGaveUp(OrchaError):
    """A supervisor exceeded its restart intensity; raised to its own supervisor."""

    code = "supervisor_gave_up"


def compact_reason(exc: BaseException, limit: int = 200) -> str:
    """``Type: message`` on one line, at most ``limit`` characters; exception groups show their first leaf."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    text = " ".join(str(exc).split())
    reason = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return reason if len(reason) <= limit else reason[: limit - 1] + "…"


class Supervisor:
    """Supervise children one-for-one inside :meth:`run`'s nursery."""

    def __init__(self, name: str, *, intensity: Intensity | None = None, on_crash: CrashHook | None = None) -> None:
        self.name = name
        self.intensity = intensity or Intensity()
        self._on_crash = on_crash
        self._nursery: trio.Nursery | None = None
        self._children: dict[str, trio.CancelScope] = {}
        self._restart_times: collections.deque[float] = collections.deque()
        self._restarts = 0
        self._crashes = 0

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run until cancelled; children run inside. Raises :class:`SupervisorGaveUp` on too many restarts."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started()
            try:
                await trio.sleep_forever()
            finally:
                self._nursery = None

    def start_child(self, spec: ChildSpec) -> None:
        """Start ``spec`` under this supervisor. Names are unique among live children."""
        if self._nursery is None:
            raise RuntimeError(f"supervisor {self.name} is not running: start it with nursery.start(sup.run)")
        if spec.name in self._children:
            raise ValueError(f"supervisor {self.name} already has a child named {spec.name!r}")
        scope = trio.CancelScope()
        self._children[spec.name] = scope
        self._nursery.start_soon(self._supervise, spec, scope, name=f"{self.name}/{spec.name}")

    def stop_child(self, name: str) -> bool:
        """Cancel a child (it is not restarted); ``False`` when there is no such live child."""
        scope = self._children.get(name)
        if scope is None:
            return False
        scope.cancel()
        return True

    def has_child(self, name: str) -> bool:
        return name in self._children

    def statistics(self) -> SupervisorStatistics:
        return SupervisorStatistics(
            name=self.name, children=tuple(self._children), restarts=self._restarts, crashes=self._crashes
        )

    def _may_restart(self) -> bool:
        now = trio.current_time()
        while self._restart_times and now - self._restart_times[0] > self.intensity.window:
            self._restart_times.popleft()
        if len(self._restart_times) >= self.intensity.max_restarts:
            return False
        self._restart_times.append(now)
        self._restarts += 1
        return True

    async def _report(self, spec: ChildSpec, exc: BaseException) -> None:
        self._crashes += 1
        log.warning("%s/%s crashed: %s", self.name, spec.name, compact_reason(exc))
        for hook in (spec.on_crash, self._on_crash):
            if hook is not None:
                with trio.CancelScope(shield=True):
                    await hook(spec.name, exc)

    async def _supervise(self, spec: ChildSpec, scope: trio.CancelScope) -> None:
        try:
            with scope:
                while True:
                    try:
                        await spec.run()
                    except Exception as exc:
                        await self._report(spec, exc)
                        if spec.restart is Restart.TEMPORARY:
                            return
                        if not self._may_restart():
                            raise SupervisorGaveUp(
                                f"supervisor {self.name} gave up: more than {self.intensity.max_restarts} restarts "
                                f"in {self.intensity.window:g}s; last crash of {spec.name}: {compact_reason(exc)}"
                            ) from exc
                        continue
                    if spec.restart is not Restart.PERMANENT:
                        return
                    if not self._may_restart():
                        raise SupervisorGaveUp(
                            f"supervisor {self.name} gave up: permanent child {spec.name} keeps exiting"
                        )
        finally:
            self._children.pop(spec.name, None)
