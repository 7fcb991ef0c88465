"""The session actor: one per started session; it drives the agent's turns inside cancel scopes.

Its life: ``starting → running``, then turns until the work is done. Each turn runs in its own cancel scope;
the whole life runs in another. A cancel cancels the life scope, then the provider run (and with it the
process group); a completion that arrives afterwards is drained, recorded as dropped, and never applied.
Loop guards and usage exhaustion pause the session and open a question; the answer resumes it.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import logging
import math
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import trio

from orcha import guards
from orcha.actors.mailbox import Envelope, Mailbox, answer
from orcha.actors.messages import Answer, CancelSession, Notify, SessionMessage, Steer, Stop
from orcha.actors.session_events import EventsMixin, compact
from orcha.actors.session_manager import ManagerMixin
from orcha.actors.session_pauses import PausesMixin
from orcha.actors.transcript_buffer import TranscriptBuffer
from orcha.actors.turns import RunEnded, TurnCompletedOk, TurnInterrupted, TurnOutcome, TurnOutOfQuota, TurnTripped
from orcha.agents.contract import (
    AgentEvent,
    AgentRun,
    StartRequest,
    TurnCompleted,
)
from orcha.errors import ConflictError, InvalidTransitionError, OrchaError
from orcha.executor import Executor
from orcha.model import (
    ObjectiveStatus,
    Session,
    SessionMode,
    SessionRole,
    SessionStatus,
    TranscriptKind,
)
from orcha.ports import call
from orcha.store_port import StorePort

if TYPE_CHECKING:
    from orcha.actors.orchestrator import Orchestrator

log = logging.getLogger(__name__)
S = SessionStatus
LATE_EVENT_GRACE = 1.0
RESUMED = "orcha was restarted while you worked; carry on where you stopped."


class _Ended(Exception):
    """The store says this session has already ended: stop quietly."""


class SessionActor(EventsMixin, PausesMixin, ManagerMixin):
    """Owns one session's live state; everything else talks to it through :attr:`mailbox`."""

    def __init__(self, orchestrator: Orchestrator, session: Session) -> None:
        self.id = session.id
        self.name = f"session:{session.id}"
        self.mailbox: Mailbox[SessionMessage] = Mailbox(self.name)
        self.objective_id = session.objective_id
        self.role = session.role
        self._orch = orchestrator
        self._session = session
        self._agent = session.agent
        self._provider_session_id = session.provider_session_id
        self._run: AgentRun | None = None
        self._events: AsyncIterator[AgentEvent] | None = None
        self._life = trio.CancelScope()
        self._turn: trio.CancelScope | None = None
        self._in_turn = False
        self._inputs: collections.deque[str] = collections.deque()
        self._input_ready = trio.Event()
        self._waiting_question: str | None = None
        self._ending: tuple[SessionStatus, str] | None = None
        self._stopped_by_store = False
        self._cancel_callers: list[Envelope[Any]] = []
        self._transcript = TranscriptBuffer(orchestrator, session.id)
        self._guard = guards.fresh(orchestrator.clock(), model_calls=session.usage.model_calls)
        self._cost_base = session.usage.cost_usd
        self._cwd: str | None = None
        self._queued_turns = 0
        self._executor: Executor | None = None
        self._notice_flag = False
        self._delivering: list[int] = []
        self._stall_stage = 0

    # --- life ---------------------------------------------------------------------------------------------

    async def run(self) -> None:
        """The actor's task. Returns when the session has ended; crashes are the supervisor's business."""
        try:
            with self._life:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._read_mailbox)
                    nursery.start_soon(self._transcript.run)
                    with contextlib.suppress(_Ended):
                        await self._live()
                    nursery.cancel_scope.cancel()
        finally:
            with trio.CancelScope(shield=True):
                await self._finish()

    async def _finish(self) -> None:
        self.mailbox.close()  # calls queued now (a steer, an answer) fail at once instead of waiting on us
        run, self._run = self._run, None
        if run is not None:
            await run.cancel()
            await self._drain_late(run)
        if self._ending is not None and not self._stopped_by_store:
            status, reason = self._ending
            with contextlib.suppress(_Ended):
                await self._move(status, reason)
        await self._transcript.flush()
        with contextlib.suppress(OrchaError):
            await self._orch.workspaces.release(await self._orch.db.run(lambda s: s.get_session(self.id)))
        self._orch.session_actor_exited(self.id)
        session = await self._orch.db.run(lambda s: s.get_session(self.id))
        for envelope in self._cancel_callers:
            await answer(envelope, _value(session))

    async def _drain_late(self, run: AgentRun) -> None:
        """Events a cancelled run still delivers (a completion racing the cancel) are recorded, not applied."""
        if self._events is None:
            return
        with trio.move_on_after(LATE_EVENT_GRACE):
            async for event in self._events:
                kind = "late_completion_dropped" if isinstance(event, TurnCompleted) else "late_event_dropped"
                await self._orch.db.run(
                    call(
                        StorePort.record_event,
                        kind,
                        objective_id=self._session.objective_id,
                        session_id=self.id,
                        event=type(event).__name__,
                    )
                )
        self._events = None

    async def _read_mailbox(self) -> None:
        async for envelope in self.mailbox:
            message = envelope.message
            match message:
                case CancelSession(reason=reason):
                    self._ending = (S.CANCELED, reason)
                    self._cancel_callers.append(envelope)
                    self._life.cancel()
                case Stop():
                    self._stopped_by_store = True
                    self._life.cancel()
                    await answer(envelope, _value(None))
                case Steer(text=text):
                    await answer(envelope, functools.partial(self._accept_input, text, steer=True))
                case Answer(question_id=question_id, text=text):
                    await answer(envelope, functools.partial(self._accept_answer, question_id, text))
                case Notify():
                    self._notice_flag = True
                    self._input_ready.set()

    async def _accept_input(self, text: str, *, steer: bool) -> None:
        if steer:
            self._emit(TranscriptKind.USER, text)
        if self._in_turn and self._run is not None and self._orch.is_interactive(self._agent):
            await self._run.send(text)  # interactive: a new user turn in the running process, queued by it
            self._queued_turns += 1
            return
        self._inputs.append(text)
        self._input_ready.set()
        if self._in_turn and self._turn is not None:
            self._turn.cancel()  # non-interactive: steer by cancel + resume

    async def _accept_answer(self, question_id: str, text: str) -> None:
        """The answer to the question the session waits on resumes it; any other answer reaches it as a message."""
        if question_id == self._waiting_question:
            self._waiting_question = None
            self._emit(TranscriptKind.USER, f"(answer to {question_id}) {text}")
            await self._accept_input(text, steer=False)
        else:
            await self._accept_input(f"The user answered your question {question_id}: {text}", steer=True)

    async def _next_input(self, *, deadline: float = math.inf, wake_on_notice: bool = False) -> str | None:
        """The next queued message, waiting for one until ``deadline`` (trio time); ``None`` at the deadline,
        or (with ``wake_on_notice``) as soon as notices for the manager arrive."""
        with trio.move_on_at(deadline):
            while not self._inputs and not (wake_on_notice and self._notice_flag):
                self._input_ready = trio.Event()
                await self._input_ready.wait()
        return self._inputs.popleft() if self._inputs else None

    # --- the turns ----------------------------------------------------------------------------------------

    async def _live(self) -> None:
        self._session = await self._orch.db.run(lambda s: s.get_session(self.id))
        if self._session.status is not S.STARTING:
            raise _Ended
        try:
            workspace = await self._orch.workspaces.prepare(self._session)
        except OrchaError as exc:
            await self._move(S.FAILED, f"workspace: {exc}")
            return
        self._cwd = workspace.path if workspace is not None else None
        if self._session.target_id is not None:
            target = await self._orch.db.run(lambda s: s.get_target(self._session.target_id or ""))
            with contextlib.suppress(OrchaError):
                self._executor = self._orch.executor_for(target)
        agent = await self._choose_agent()
        mode = SessionMode.INTERACTIVE if self._orch.is_interactive(agent) else SessionMode.NONINTERACTIVE
        await self._orch.db.run(lambda s: s.set_session_fields(self.id, mode=mode, agent=agent))
        await self._move(S.RUNNING, None)
        text, fresh_start, consume_only = self._session.prompt, True, False
        if self._provider_session_id is not None:  # orcha restarted under it: carry on, with any news
            news = await self._take_notices()
            text, fresh_start = RESUMED + (f"\n\n{news}" if news else ""), False
        while True:
            try:
                if consume_only:  # a turn the process already queued (steered mid-turn)
                    outcome = await self._consume_turn()
                else:
                    outcome = await self._turn_with(text, fresh_start=fresh_start)
            except OrchaError as exc:  # e.g. the agent's CLI is missing: a clear failure, not a crash
                await self._close_run()
                await self._move(S.FAILED, f"agent {self._agent}: {exc}")
                return
            fresh_start = consume_only = False
            match outcome:
                case TurnCompletedOk(final_text=final, failed=failed):
                    if self._queued_turns and self._run is not None:
                        self._queued_turns -= 1
                        consume_only = True
                        continue
                    self._queued_turns = 0
                    next_text = await self._after_turn(final, failed)
                    if next_text is None:
                        return
                    text = next_text
                case TurnInterrupted():
                    await self._close_run()
                    text = self._inputs.popleft() if self._inputs else "continue"
                case TurnTripped(trip=trip):
                    text = await self._pause_for_guard(trip)
                case TurnOutOfQuota(event=event):
                    text, fresh_start = await self._handle_exhaustion(event)
                case RunEnded():
                    await self._move(S.FAILED, "the agent exited without completing its turn")
                    return

    async def _after_turn(self, final: str, failed: bool) -> str | None:
        """What follows a completed turn: the next message to send, or ``None`` when the session is over."""
        if self._inputs:
            return self._inputs.popleft()
        news = await self._take_notices()
        if news is not None:  # what happened to the team while the manager was busy, in one turn
            return news
        if self._waiting_question is not None:
            await self._move(S.WAITING_INPUT, "waiting for an answer")
            text = await self._next_input()
            await self._settle_question("the session was steered instead")
            await self._move(S.RUNNING, None)
            return text
        if failed:
            await self._move(S.FAILED, compact(final) or "the turn failed")
            return None
        if self._session.role is SessionRole.WORKER:
            await self._close_run()
            await self._move(S.COMPLETED, compact(final))
            return None
        objective = await self._orch.db.run(lambda s: s.get_objective(self._session.objective_id))
        if objective.status is not ObjectiveStatus.ACTIVE:
            raise _Ended
        text = await self._manager_wait()  # a manager never completes by itself: it waits for its team
        if self._session.status is not S.RUNNING:
            await self._move(S.RUNNING, None)
        return text

    async def _turn_with(self, text: str, *, fresh_start: bool) -> TurnOutcome:
        provider = self._orch.providers.provider(self._agent)
        if fresh_start or (self._run is None and self._provider_session_id is None):
            await self._close_run()
            self._cost_base = self._session.usage.cost_usd
            self._run = await provider.start(self._request(text))
            self._events = self._run.events()
        elif self._run is not None and provider.capabilities.interactive:
            await self._run.send(text)
        else:
            await self._close_run()
            assert self._provider_session_id is not None
            try:
                self._run = await provider.resume(self._request(text), self._provider_session_id, text)
            except (OrchaError, LookupError) as exc:  # the conversation is gone (e.g. another machine)
                self._emit(TranscriptKind.SYSTEM, f"cannot resume {self._provider_session_id}: {exc}; starting over")
                self._provider_session_id = None
                self._cost_base = self._session.usage.cost_usd
                self._run = await provider.start(self._request(self._session.prompt))
            self._events = self._run.events()
        await self._mark_delivered()  # the notices in this turn have reached the agent
        return await self._consume_turn()

    async def _consume_turn(self) -> TurnOutcome:
        assert self._events is not None
        self._turn = trio.CancelScope()
        self._in_turn = True
        try:
            with self._turn:
                while True:
                    deadline = guards.progress_deadline(self._orch.config.guards, self._guard)
                    idle_at = math.inf if deadline is None else self._orch.trio_time_of(deadline)
                    with trio.move_on_at(idle_at) as idle:
                        try:
                            event = await self._events.__anext__()
                        except StopAsyncIteration:
                            return RunEnded()
                    if idle.cancelled_caught:
                        return TurnTripped(guards.idle_trip(self._orch.config.guards))
                    outcome = await self._on_event(event)
                    if outcome is not None:
                        return outcome
            return TurnInterrupted()
        finally:
            self._in_turn = False
            self._turn = None

    async def snapshot(self) -> str:
        """The run's screen, for providers that have one."""
        snapshot = getattr(self._run, "snapshot", None)
        if snapshot is None:
            raise ConflictError(f"session {self.id} has no live screen right now")
        return str(await snapshot())

    # --- plumbing -----------------------------------------------------------------------------------------

    def _request(self, text: str) -> StartRequest:
        mcp_url, mcp_token = self._orch.mcp_endpoint(self.id)
        return StartRequest(
            mcp_url=mcp_url,
            mcp_token=mcp_token,
            session_id=self.id,
            objective_id=self._session.objective_id,
            role=self._session.role,
            agent=self._agent,
            prompt=text,
            cwd=self._cwd,
            tools=self._orch.tools_for(self.id),
            executor=self._executor,
        )

    async def _close_run(self) -> None:
        self._queued_turns = 0  # turns queued in the process die with it
        run, self._run = self._run, None
        self._events = None
        if run is not None:
            with trio.CancelScope(shield=True):
                await run.cancel()

    async def _move(self, status: SessionStatus, reason: str | None) -> None:
        await self._transcript.flush()
        try:
            self._session = await self._orch.db.run(lambda s: s.update_session_status(self.id, status, reason=reason))
        except InvalidTransitionError as exc:
            current = await self._orch.db.run(lambda s: s.get_session(self.id))
            if current.status.is_terminal:
                await self._orch.db.run(
                    lambda s: s.record_event(
                        "late_transition_dropped",
                        objective_id=current.objective_id,
                        session_id=self.id,
                        requested=status,
                        current=current.status,
                    )
                )
                raise _Ended from exc
            raise
        await self._orch.session_moved(self._session)

    def _emit(self, kind: TranscriptKind, body: str) -> None:
        self._transcript.emit(kind, body)


def _value(value: Any) -> Any:
    async def get() -> Any:
        return value

    return get
