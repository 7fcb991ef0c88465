"""Recording fakes for the actors' collaborators, and a provider whose runs the test drives event by event.

With these, one actor runs alone — no Orchestrator, no supervisors, no scheduler — against the real store
(through an inline gateway), and each test sends it the messages the rest of orcha would.
"""

from __future__ import annotations

import collections
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import attrs
import trio

from orcha.actors.deps import SessionDeps, SessionSettings
from orcha.actors.mailbox import Mailbox, answer
from orcha.actors.messages import SessionMessage
from orcha.agents.contract import AgentEvent, Capabilities, StartRequest
from orcha.agents.registry import Exhaustion, ProviderRegistry
from orcha.doctor import Check, CheckSink, DoctorReport, no_progress
from orcha.effects import EffectKey
from orcha.model import Audience, Question, Session, SessionEnd, SessionStatus, Target, TargetStatus
from orcha.ports import Db

EPOCH = 1_800_000_000.0


def wall_clock() -> float:
    return EPOCH + trio.current_time()


# --- the session actor's collaborators ------------------------------------------------------------------


class RecordingObserver:
    """Records every ``session_moved`` / ``session_updated`` / ``transcript_appended`` / ``session_exited``. A
    test may hook a status:
    the hook runs inside ``session_moved``, in the actor's task, after the move is recorded."""

    def __init__(self) -> None:
        self.moves: list[tuple[str, SessionStatus, str | None]] = []
        self.ends: list[SessionEnd] = []
        self.updated: list[Session] = []
        self.appended: list[str] = []
        self.exited: list[str] = []
        self.hooks: dict[SessionStatus, Callable[[Session], Awaitable[None]]] = {}
        self._reached: collections.defaultdict[SessionStatus, trio.Event] = collections.defaultdict(trio.Event)
        self.gone = trio.Event()

    async def session_moved(self, session: Session, end: SessionEnd | None = None) -> None:
        self.moves.append((session.id, session.status, session.status_reason))
        if end is not None:
            self.ends.append(end)
        self._reached[session.status].set()
        hook = self.hooks.get(session.status)
        if hook is not None:
            await hook(session)

    def session_updated(self, session: Session) -> None:
        self.updated.append(session)

    def transcript_appended(self, session_id: str) -> None:
        self.appended.append(session_id)

    def session_exited(self, session_id: str) -> None:
        self.exited.append(session_id)
        self.gone.set()

    def statuses(self, session_id: str) -> list[SessionStatus]:
        return [status for sid, status, _ in self.moves if sid == session_id]

    async def reached(self, status: SessionStatus) -> None:
        await self._reached[status].wait()


class RecordingQuestions:
    """Questions go to the real store (a question needs an id the actor waits on); asks and closes recorded."""

    def __init__(self, db: Db) -> None:
        self._db = db
        self.asks: list[tuple[str, str | None, str, Audience]] = []
        self.closes: list[tuple[str, str]] = []

    async def ask(
        self,
        objective_id: str,
        session_id: str | None,
        text: str,
        audience: Audience,
        *,
        effect: EffectKey | None = None,
    ) -> Question:
        self.asks.append((objective_id, session_id, text, audience))
        return await self._db.run(
            lambda s: s.ask_question(
                objective_id=objective_id, asked_by=session_id, text=text, audience=audience, effect=effect
            )
        )

    async def close_automatically(self, question_id: str, note: str) -> None:
        self.closes.append((question_id, note))


class RecordingLimits:
    def __init__(self) -> None:
        self.marked: list[Exhaustion] = []
        self.cleared: list[tuple[str, str]] = []

    async def mark_exhausted(self, record: Exhaustion) -> None:
        self.marked.append(record)

    async def clear_exhausted(self, agent: str, *, reason: str) -> None:
        self.cleared.append((agent, reason))


class NoWorkspaces:
    """Sessions without a checkout: ``prepare`` gives ``None``; releases are recorded."""

    def __init__(self) -> None:
        self.prepared: list[str] = []
        self.released: list[tuple[str, SessionStatus]] = []

    async def prepare(self, session: Session) -> None:
        self.prepared.append(session.id)

    async def release(self, session: Session) -> None:
        self.released.append((session.id, session.status))


@attrs.frozen
class StubExecutor:
    """Stands for a target's executor: the session actor only hands it on to its provider."""

    name: str


class RecordingExecutors:
    def __init__(self) -> None:
        self.asked: list[str] = []

    def for_target(self, target: Target) -> Any:
        self.asked.append(target.id)
        return StubExecutor(name=f"executor:{target.name}")


class NoMcp:
    def __init__(self) -> None:
        self.asked: list[str] = []
        self.forgotten: list[str] = []

    def endpoint(self, session_id: str) -> tuple[str | None, str | None]:
        self.asked.append(session_id)
        return None, None

    def forget(self, session_id: str) -> None:
        self.forgotten.append(session_id)


class NoTools:
    def __init__(self) -> None:
        self.asked: list[str] = []

    def __call__(self, session_id: str) -> Any:
        self.asked.append(session_id)
        return None


@attrs.define
class SessionFakes:
    """Everything a session actor was handed besides the store and its providers."""

    observer: RecordingObserver
    questions: RecordingQuestions
    limits: RecordingLimits
    workspaces: NoWorkspaces
    executors: RecordingExecutors
    mcp: NoMcp
    tools: NoTools


def session_deps(
    db: Db, providers: ProviderRegistry, *, settings: SessionSettings | None = None
) -> tuple[SessionDeps, SessionFakes]:
    fakes = SessionFakes(
        observer=RecordingObserver(),
        questions=RecordingQuestions(db),
        limits=RecordingLimits(),
        workspaces=NoWorkspaces(),
        executors=RecordingExecutors(),
        mcp=NoMcp(),
        tools=NoTools(),
    )
    deps = SessionDeps(
        db=db,
        clock=wall_clock,
        settings=settings or SessionSettings(),
        providers=providers,
        limits=fakes.limits,
        workspaces=fakes.workspaces,
        executors=fakes.executors,
        mcp=fakes.mcp,
        questions=fakes.questions,
        observer=fakes.observer,
        tools_for=fakes.tools,
    )
    return deps, fakes


# --- a provider the test drives step by step ------------------------------------------------------------


class ScriptedRun:
    """An agent run whose events the test feeds (:meth:`feed`), one at a time or several, whenever it likes.

    ``cancel`` records itself, then runs the provider's ``on_cancel`` hook (a slow kill, or an agent that
    completes its turn as it is killed), then ends the event stream (after anything fed before its end).
    """

    def __init__(self, provider: ScriptedProvider, request: StartRequest) -> None:
        self.request = request
        self._provider = provider
        self._send, self._receive = trio.open_memory_channel[AgentEvent](math.inf)
        self.sent: list[str] = []
        self.cancels = 0
        self.cancel_called = trio.Event()
        self.canceled = trio.Event()
        """Set once ``cancel`` has returned."""

    def feed(self, *events: AgentEvent) -> None:
        for event in events:
            self._send.send_nowait(event)

    def end(self) -> None:
        """The process exits: no more events."""
        self._send.close()

    def events(self) -> AsyncIterator[AgentEvent]:
        return self

    def __aiter__(self) -> ScriptedRun:
        return self

    async def __anext__(self) -> AgentEvent:
        try:
            return await self._receive.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            raise StopAsyncIteration from None

    async def send(self, text: str) -> None:
        self.sent.append(text)
        await trio.lowlevel.checkpoint()

    async def cancel(self) -> None:
        self.cancels += 1
        if self.cancels > 1:
            await trio.lowlevel.checkpoint()
            return
        self._provider.log.append(("cancel", self.request.session_id))
        self.cancel_called.set()
        if self._provider.on_cancel is not None:
            await self._provider.on_cancel(self)
        self._send.close()
        self.canceled.set()
        await trio.lowlevel.checkpoint()


class ScriptedProvider:
    """Starts :class:`ScriptedRun` values; the test takes each with :meth:`next_run` and feeds it."""

    def __init__(self, *, name: str = "scripted", interactive: bool = True) -> None:
        self.name = name
        self.capabilities = Capabilities(interactive=interactive, screen=False)
        self.log: list[tuple[str, str]] = []
        self.runs: list[ScriptedRun] = []
        self.on_cancel: Callable[[ScriptedRun], Awaitable[None]] | None = None
        self._started_send, self._started = trio.open_memory_channel[ScriptedRun](math.inf)

    async def start(self, request: StartRequest) -> ScriptedRun:
        return self._open("start", request)

    async def resume(self, request: StartRequest, provider_session_id: str, text: str) -> ScriptedRun:
        return self._open("resume", request)

    def _open(self, action: str, request: StartRequest) -> ScriptedRun:
        run = ScriptedRun(self, request)
        self.log.append((action, request.session_id))
        self.runs.append(run)
        self._started_send.send_nowait(run)
        return run

    async def next_run(self) -> ScriptedRun:
        return await self._started.receive()


# --- the objective and target actors' collaborators -----------------------------------------------------


class RecordingAnnounce:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def __call__(self, kind: str, ident: str) -> None:
        self.calls.append((kind, ident))


class Wakes:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


class FakeSessionInbox:
    """Stands for a session actor in the objective actor's eyes: records what it is told (and whether it was
    a call), and answers calls after ``answer_after`` virtual seconds."""

    def __init__(self, session_id: str, *, answer_after: float = 0.0) -> None:
        self.id = session_id
        self.mailbox: Mailbox[SessionMessage] = Mailbox(f"session:{session_id}")
        self.told: list[tuple[SessionMessage, bool, float]] = []
        self.answer_after = answer_after

    async def serve(self) -> None:
        try:
            async for envelope in self.mailbox:
                self.told.append((envelope.message, envelope.reply is not None, trio.current_time()))
                await trio.sleep(self.answer_after)
                await answer(envelope, _nothing)
        finally:
            self.mailbox.close()


async def _nothing() -> None:
    return None


class FakeDoctor:
    """Answers with the report the test sets; records the targets it examined."""

    def __init__(self, *checks: Check) -> None:
        self.report = DoctorReport(checks=checks or (Check(name="work_root", ok=True),))
        self.examined: list[tuple[str, TargetStatus]] = []

    def fail(self, name: str, detail: str) -> None:
        self.report = DoctorReport(checks=(Check(name=name, ok=False, detail=detail),))

    async def __call__(self, target: Target, /, *, on_check: CheckSink = no_progress) -> DoctorReport:
        self.examined.append((target.id, target.status))
        await trio.lowlevel.checkpoint()
        for check in self.report.checks:
            await on_check(check)
        return self.report


@attrs.define
class Timed:
    """What a background call ended with, and when (trio time)."""

    value: Any = None
    error: BaseException | None = None
    at: float | None = None
    done: trio.Event = attrs.field(factory=trio.Event)


def timed_call(nursery: trio.Nursery, mailbox: Mailbox[Any], message: Any) -> Timed:
    """Make ``mailbox.call(message)`` in the background; the returned record fills in when it ends."""
    result = Timed()

    async def call() -> None:
        try:
            result.value = await mailbox.call(message)
        except Exception as exc:
            result.error = exc
        result.at = trio.current_time()
        result.done.set()

    nursery.start_soon(call)
    return result


def kinds(events: Iterator[Any] | list[Any]) -> list[str]:
    return [e.kind for e in events]
