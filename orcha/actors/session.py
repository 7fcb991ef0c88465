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
import json
import logging
import math
from collections.abc import AsyncIterator
from operator import methodcaller
from typing import TYPE_CHECKING, Any

import attrs
import trio

from orcha import guards
from orcha.actors.mailbox import Envelope, Mailbox, answer
from orcha.actors.messages import Answer, CancelSession, SessionMessage, Steer, Stop
from orcha.agents.contract import (
    AgentError,
    AgentEvent,
    AgentRun,
    Exhausted,
    ProviderSessionStarted,
    QuestionAsked,
    StartRequest,
    TextOut,
    ToolCall,
    ToolResult,
    TurnCompleted,
    UsageReport,
)
from orcha.agents.registry import Exhaustion
from orcha.errors import ConflictError, InvalidTransitionError
from orcha.model import (
    Audience,
    ObjectiveStatus,
    Session,
    SessionMode,
    SessionRole,
    SessionStatus,
    TranscriptKind,
    TranscriptLine,
    Usage,
)

if TYPE_CHECKING:
    from orcha.actors.orchestrator import Orchestrator

log = logging.getLogger(__name__)
S = SessionStatus
FLUSH_SECONDS = 0.25
LATE_EVENT_GRACE = 1.0


class _Ended(Exception):
    """The store says this session has already ended: stop quietly."""


@attrs.frozen
class _Completed:
    final_text: str
    failed: bool


@attrs.frozen
class _Tripped:
    trip: guards.Trip


@attrs.frozen
class _OutOfQuota:
    event: Exhausted


@attrs.frozen
class _Interrupted:
    """A non-interactive turn was cut short to be steered (cancel + resume)."""


@attrs.frozen
class _RunEnded:
    """The run ended without completing its turn (the process died)."""


TurnOutcome = _Completed | _Tripped | _OutOfQuota | _Interrupted | _RunEnded


class SessionActor:
    """Owns one session's live state; everything else talks to it through :attr:`mailbox`."""

    def __init__(self, orchestrator: Orchestrator, session: Session) -> None:
        self.id = session.id
        self.name = f"session:{session.id}"
        self.mailbox: Mailbox[SessionMessage] = Mailbox(self.name)
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
        self._lines: list[TranscriptLine] = []
        self._guard = guards.fresh(orchestrator.clock(), model_calls=session.usage.model_calls)
        self._cost_base = session.usage.cost_usd

    # --- life ---------------------------------------------------------------------------------------------

    async def run(self) -> None:
        """The actor's task. Returns when the session has ended; crashes are the supervisor's business."""
        try:
            with self._life:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._read_mailbox)
                    nursery.start_soon(self._flush_periodically)
                    with contextlib.suppress(_Ended):
                        await self._live()
                    nursery.cancel_scope.cancel()
        finally:
            with trio.CancelScope(shield=True):
                await self._finish()

    async def _finish(self) -> None:
        run, self._run = self._run, None
        if run is not None:
            await run.cancel()
            await self._drain_late(run)
        if self._ending is not None and not self._stopped_by_store:
            status, reason = self._ending
            with contextlib.suppress(_Ended):
                await self._move(status, reason)
        await self._flush()
        self.mailbox.close()
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
                    methodcaller(
                        "record_event",
                        kind,
                        objective_id=self._session.objective_id,
                        session_id=self.id,
                        event=type(event).__name__,
                    )
                )
        self._events = None

    async def _read_mailbox(self) -> None:
        async for envelope in self.mailbox.receive:
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

    async def _accept_input(self, text: str, *, steer: bool) -> None:
        if steer:
            self._emit(TranscriptKind.USER, text)
        self._inputs.append(text)
        self._input_ready.set()
        if self._in_turn and self._turn is not None and not self._orch.is_interactive(self._agent):
            self._turn.cancel()  # non-interactive: steer by cancel + resume

    async def _accept_answer(self, question_id: str, text: str) -> None:
        """The answer to the question the session waits on resumes it; any other answer reaches it as a message."""
        if question_id == self._waiting_question:
            self._waiting_question = None
            self._emit(TranscriptKind.USER, f"(answer to {question_id}) {text}")
            await self._accept_input(text, steer=False)
        else:
            await self._accept_input(f"The user answered your question {question_id}: {text}", steer=True)

    async def _next_input(self, *, deadline: float = math.inf) -> str | None:
        """The next queued message, waiting for one until ``deadline`` (trio time); ``None`` at the deadline."""
        with trio.move_on_at(deadline):
            while not self._inputs:
                self._input_ready = trio.Event()
                await self._input_ready.wait()
        return self._inputs.popleft() if self._inputs else None

    # --- the turns ----------------------------------------------------------------------------------------

    async def _live(self) -> None:
        self._session = await self._orch.db.run(lambda s: s.get_session(self.id))
        if self._session.status is not S.STARTING:
            raise _Ended
        agent = await self._choose_agent()
        mode = SessionMode.INTERACTIVE if self._orch.is_interactive(agent) else SessionMode.NONINTERACTIVE
        await self._orch.db.run(lambda s: s.set_session_fields(self.id, mode=mode, agent=agent))
        await self._move(S.RUNNING, None)
        text, fresh_start = self._session.prompt, True
        while True:
            outcome = await self._turn_with(text, fresh_start=fresh_start)
            fresh_start = False
            match outcome:
                case _Completed(final_text=final, failed=failed):
                    next_text = await self._after_turn(final, failed)
                    if next_text is None:
                        return
                    text = next_text
                case _Interrupted():
                    await self._close_run()
                    text = self._inputs.popleft() if self._inputs else "continue"
                case _Tripped(trip=trip):
                    text = await self._pause_for_guard(trip)
                case _OutOfQuota(event=event):
                    text, fresh_start = await self._handle_exhaustion(event)
                case _RunEnded():
                    await self._move(S.FAILED, "the agent exited without completing its turn")
                    return

    async def _after_turn(self, final: str, failed: bool) -> str | None:
        """What follows a completed turn: the next message to send, or ``None`` when the session is over."""
        if self._inputs:
            return self._inputs.popleft()
        if self._waiting_question is not None:
            await self._move(S.WAITING_INPUT, "waiting for an answer")
            text = await self._next_input()
            await self._settle_question("the session was steered instead")
            await self._move(S.RUNNING, None)
            return text
        if failed:
            await self._move(S.FAILED, _compact(final) or "the turn failed")
            return None
        if self._session.role is SessionRole.WORKER:
            await self._close_run()
            await self._move(S.COMPLETED, _compact(final))
            return None
        objective = await self._orch.db.run(lambda s: s.get_objective(self._session.objective_id))
        if objective.status is not ObjectiveStatus.ACTIVE:
            raise _Ended
        await self._move(S.WAITING_INPUT, "the manager's turn ended; waiting for messages")
        text = await self._next_input()
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
            self._run = await provider.resume(self._request(text), self._provider_session_id, text)
            self._events = self._run.events()
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
                            return _RunEnded()
                    if idle.cancelled_caught:
                        return _Tripped(guards.idle_trip(self._orch.config.guards))
                    outcome = await self._on_event(event)
                    if outcome is not None:
                        return outcome
            return _Interrupted()
        finally:
            self._in_turn = False
            self._turn = None

    async def _on_event(self, event: AgentEvent) -> TurnOutcome | None:
        config, now = self._orch.config.guards, self._orch.clock()
        trip: guards.Trip | None = None
        match event:
            case ProviderSessionStarted(provider_session_id=psid):
                self._provider_session_id = psid
                await self._orch.db.run(lambda s: s.set_session_fields(self.id, provider_session_id=psid))
            case TextOut(text=text):
                self._emit(TranscriptKind.TEXT, text)
                self._guard = guards.on_progress(self._guard, now)
            case ToolCall(name=name, arguments=arguments):
                self._emit(TranscriptKind.TOOL_CALL, json.dumps({"tool": name, "arguments": arguments}, default=str))
            case ToolResult(output=output, is_error=is_error):
                self._emit(TranscriptKind.TOOL_RESULT, output)
                if not is_error:
                    self._guard = guards.on_progress(self._guard, now)
            case AgentError(message=message):
                self._emit(TranscriptKind.ERROR, message)
                await self._orch.db.run(lambda s: s.add_session_usage(self.id, Usage(errors=1)))
                self._guard, trip = guards.on_error(config, self._guard, message)
            case UsageReport() as usage:
                await self._record_usage(usage)
                self._guard, trip = guards.on_model_calls(config, self._guard, usage.model_calls)
            case QuestionAsked(text=text):
                self._emit(TranscriptKind.QUESTION, text)
                question = await self._orch.ask(self._session.objective_id, self.id, text, Audience.USER)
                self._waiting_question = question.id
            case TurnCompleted(final_text=final, failed=failed):
                self._emit(TranscriptKind.SYSTEM, f"turn {'failed' if failed else 'completed'}: {_compact(final)}")
                if not failed and final:
                    self._guard = guards.on_progress(self._guard, now)
                self._guard, trip = guards.on_turn_end(config, self._guard)
                if trip is None:
                    return _Completed(final, failed)
            case Exhausted():
                self._emit(TranscriptKind.ERROR, f"usage exhausted: {event.message}")
                return _OutOfQuota(event)
        return _Tripped(trip) if trip is not None else None

    async def _record_usage(self, usage: UsageReport) -> None:
        """Add a usage report; a provider's cost is a running total for its conversation, so it is rebased."""
        delta = Usage(model_calls=usage.model_calls, input_tokens=usage.input_tokens, output_tokens=usage.output_tokens)
        total = None if usage.cost_total_usd is None else self._cost_base + usage.cost_total_usd
        self._session = await self._orch.db.run(lambda s: s.add_session_usage(self.id, delta, cost_total_usd=total))

    # --- pauses: loop guards and exhaustion ---------------------------------------------------------------

    async def _pause(self, reason: str, question_text: str) -> str:
        await self._close_run()
        await self._move(S.PAUSED, reason)
        question = await self._orch.ask(self._session.objective_id, self.id, question_text, Audience.USER)
        self._waiting_question = question.id
        return question.id

    async def _pause_for_guard(self, trip: guards.Trip) -> str:
        await self._pause(
            f"loop guard: {trip.reason}",
            f"Session {self.id} was paused by a loop guard ({trip.kind}): {trip.reason}. "
            "Answer to resume it; your answer is sent to the agent.",
        )
        text = await self._next_input()
        assert text is not None
        await self._settle_question("resumed by a message to the session")
        self._guard = guards.fresh(self._orch.clock(), model_calls=0)
        await self._move(S.RUNNING, None)
        return text

    async def _choose_agent(self) -> str:
        chosen = self._orch.providers.choose(self._agent, self._orch.clock())
        if chosen is None:
            chosen, _ = await self._park(self._agent)
        if chosen != self._agent:
            await self._switch_agent(chosen)
        return self._agent

    async def _switch_agent(self, agent: str) -> None:
        previous, self._agent = self._agent, agent
        self._provider_session_id = None
        await self._orch.db.run(
            lambda s: s.record_event(
                "provider_fallback",
                objective_id=self._session.objective_id,
                session_id=self.id,
                old=previous,
                new=agent,
            )
        )
        await self._orch.db.run(lambda s: s.set_session_fields(self.id, agent=agent))
        self._emit(TranscriptKind.SYSTEM, f"{previous} is out of quota: continuing on {agent}")

    async def _handle_exhaustion(self, event: Exhausted) -> tuple[str, bool]:
        """Fall back to another provider, or park until the reset or the user's answer. Returns the next turn."""
        await self._close_run()
        record = Exhaustion(agent=self._agent, until=event.resets_at, billing=event.billing, reason=event.message)
        await self._orch.mark_exhausted(record)
        chosen = self._orch.providers.choose(self._agent, self._orch.clock())
        if chosen is None:
            chosen, answer_text = await self._park(self._agent)
        else:
            answer_text = None
        if chosen != self._agent:
            await self._switch_agent(chosen)
            return self._session.prompt, True
        text = answer_text or "Your usage window has reset; carry on where you stopped."
        return text, self._provider_session_id is None

    async def _park(self, agent: str) -> tuple[str, str | None]:
        """Pause until ``agent`` (or a fallback) may be used: its reset time passes, or the user answers.

        Returns the agent to go on with and the user's answer (``None`` when the reset time resumed it).
        """
        record = self._orch.providers.exhaustion(agent, self._orch.clock())
        until = record.until if record else None
        when = "an unknown time" if until is None else f"{until:.0f} (Unix time)"
        if self._session.status is S.STARTING:
            await self._move(S.RUNNING, None)
        question_id = await self._pause(
            f"{agent} is out of quota until {when}",
            f"Session {self.id} is parked: {agent} is out of quota until {when} and no other provider is "
            "available. Answer to retry now, or wait for the reset.",
        )
        auto = self._orch.config.auto_resume_on_reset and until is not None
        deadline = self._orch.trio_time_of(until) if auto and until is not None else math.inf
        text = await self._next_input(deadline=deadline)
        if text is None:  # the reset time passed
            self._waiting_question = None
            await self._orch.close_question_automatically(
                question_id, f"resumed automatically: {agent}'s usage window reset"
            )
        else:
            await self._settle_question("resumed by a message to the session")
            await self._orch.clear_exhausted(agent, reason="the user answered")
        await self._move(S.RUNNING, None)
        return self._orch.providers.choose(agent, self._orch.clock()) or agent, text

    async def _settle_question(self, note: str) -> None:
        """A message resumed the session while its question was still open: dismiss it, with a note."""
        if self._waiting_question is not None:
            question_id, self._waiting_question = self._waiting_question, None
            await self._orch.close_question_automatically(question_id, note)

    async def snapshot(self) -> str:
        """The run's screen, for providers that have one."""
        snapshot = getattr(self._run, "snapshot", None)
        if snapshot is None:
            raise ConflictError(f"session {self.id} has no live screen right now")
        return str(await snapshot())

    # --- plumbing -----------------------------------------------------------------------------------------

    def _request(self, text: str) -> StartRequest:
        return StartRequest(
            session_id=self.id,
            objective_id=self._session.objective_id,
            role=self._session.role,
            agent=self._agent,
            prompt=text,
            tools=self._orch.tools_for(self.id),
        )

    async def _close_run(self) -> None:
        run, self._run = self._run, None
        self._events = None
        if run is not None:
            with trio.CancelScope(shield=True):
                await run.cancel()

    async def _move(self, status: SessionStatus, reason: str | None) -> None:
        await self._flush()
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
        self._lines.append(TranscriptLine(session_id=self.id, kind=kind, body=body, ts=self._orch.clock()))

    async def _flush(self) -> None:
        if self._lines:
            lines, self._lines = self._lines, []
            await self._orch.db.run(lambda s: s.append_transcript(lines))
            self._orch.transcript_appended(self.id)

    async def _flush_periodically(self) -> None:
        while True:
            await trio.sleep(FLUSH_SECONDS)
            if len(self._lines) >= 1:
                await self._flush()


def _compact(text: str, limit: int = 300) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _value(value: Any) -> Any:
    async def get() -> Any:
        return value

    return get
