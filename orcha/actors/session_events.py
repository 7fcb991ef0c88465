"""How a session actor takes its agent's events: transcript lines, usage, guards, questions, turn ends.

Mixed into :class:`~orcha.actors.session.SessionActor` (its methods take ``self: SessionHost``).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import attrs

from orcha import guards
from orcha.actors.session_host import SessionFields
from orcha.actors.turns import TurnCompletedOk, TurnOutcome, TurnOutOfQuota, TurnTripped
from orcha.agents.contract import (
    AgentError,
    AgentEvent,
    Exhausted,
    ProviderSessionStarted,
    QuestionAsked,
    TextOut,
    ToolCall,
    ToolResult,
    TurnCompleted,
    UsageReport,
)
from orcha.effects import effect_key
from orcha.model import Audience, TranscriptKind, Usage

if TYPE_CHECKING:
    from orcha.actors.session_host import SessionHost


MAX_OPEN_CALLS = 64
"""Tool calls whose results a session remembers the tools of (the lines of their results name them)."""


def compact(text: str, limit: int = 300) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _emit_call(host: SessionHost, call: ToolCall) -> None:
    if len(host._tool_names) >= MAX_OPEN_CALLS:  # calls whose results never came: forget the oldest
        del host._tool_names[next(iter(host._tool_names))]
    host._tool_names[call.call_id] = call.name
    host._emit(TranscriptKind.TOOL_CALL, json.dumps({"tool": call.name, "arguments": call.arguments}, default=str))


def _emit_result(host: SessionHost, result: ToolResult) -> None:
    """A tool result's line, its outcome stored with it and its call's tool named (for its summary)."""
    tool = host._tool_names.pop(result.call_id, None)
    host._emit(TranscriptKind.TOOL_RESULT, result.output, failed=result.is_error, tool=tool)


class EventsMixin(SessionFields):
    def _take_output(self: SessionHost, generation: int, event: AgentEvent) -> bool:
        """Called by the run's pump: take plain output of the current turn as it comes (``True``), or leave the
        event to the inbox (``False``). Synchronous, so it cannot interleave with a step of the actor; it
        writes only the transcript and the time of the latest progress (folded into the guards later)."""
        if generation != self._runs.generation or not self._in_turn or self._steered:
            return False
        match event:
            case TextOut(text=text, offset=offset):
                self._emit(TranscriptKind.TEXT, text, pane_offset=offset)
            case ToolCall() as tool_call:
                _emit_call(self, tool_call)
                return True
            case ToolResult(is_error=False) as result:
                _emit_result(self, result)
            case _:
                return False
        self._progressed_at = self._deps.clock()
        return True

    def _fold_progress(self: SessionHost) -> None:
        """Fold the progress the pump saw (:meth:`_take_output`) into the guards' state."""
        if self._progressed_at is not None:
            self._guard = guards.on_progress(self._guard, self._progressed_at)
            self._progressed_at = None

    async def _on_event(self: SessionHost, event: AgentEvent) -> TurnOutcome | None:
        self._fold_progress()
        config, now = self._deps.settings.guards, self._deps.clock()
        trip: guards.Trip | None = None
        match event:
            case ProviderSessionStarted(provider_session_id=psid, attach_command=attach):
                if psid != self._provider_session_id or attach:
                    self._provider_session_id = psid
                    updated = await self._deps.db.run(
                        lambda s: s.set_session_fields(self.id, provider_session_id=psid, attach_command=attach)
                    )
                    self._deps.observer.session_updated(updated)
            case TextOut(text=text, offset=offset):
                self._emit(TranscriptKind.TEXT, text, pane_offset=offset)
                self._guard = guards.on_progress(self._guard, now)
            case ToolCall() as tool_call:
                _emit_call(self, tool_call)
            case ToolResult(is_error=is_error) as result:
                _emit_result(self, result)
                if not is_error:
                    self._guard = guards.on_progress(self._guard, now)
            case AgentError(message=message):
                self._emit(TranscriptKind.ERROR, message)
                self._add_usage(Usage(errors=1))
                self._guard, trip = guards.on_error(config, self._guard, message)
            case UsageReport() as usage:
                self._record_usage(usage)
                self._guard, trip = guards.on_model_calls(config, self._guard, usage.model_calls)
            case QuestionAsked(text=text):
                self._emit(TranscriptKind.QUESTION, text)
                question = await self._deps.questions.ask(
                    self._session.objective_id,
                    self.id,
                    text,
                    Audience.USER,
                    effect=effect_key(self.id, "ask_user", {"question": text}),  # asked again after a restart
                )
                self._waiting_question = question.id
            case TurnCompleted(final_text=final, failed=failed):
                self._emit(TranscriptKind.SYSTEM, f"turn {'failed' if failed else 'completed'}: {compact(final)}")
                if not failed and final:
                    self._guard = guards.on_progress(self._guard, now)
                self._guard, trip = guards.on_turn_end(config, self._guard)
                if trip is None:
                    return TurnCompletedOk(final, failed)
            case Exhausted():
                self._emit(TranscriptKind.ERROR, f"usage exhausted: {event.message}")
                return TurnOutOfQuota(event)
        return TurnTripped(trip) if trip is not None else None

    def _record_usage(self: SessionHost, usage: UsageReport) -> None:
        """Add a usage report; a provider's cost is a running total for its conversation, so it is rebased."""
        delta = Usage(model_calls=usage.model_calls, input_tokens=usage.input_tokens, output_tokens=usage.output_tokens)
        total = None if usage.cost_total_usd is None else self._cost_base + usage.cost_total_usd
        self._add_usage(delta, cost_total_usd=total)

    def _add_usage(self: SessionHost, delta: Usage, *, cost_total_usd: float | None = None) -> None:
        """Count usage: at once in the actor's copy of the session (its one writer), and in the store with the
        transcript's next commit (which tells the session's watchers once it is stored)."""
        usage = self._session.usage.plus(delta, cost_total_usd=cost_total_usd)
        self._session = attrs.evolve(self._session, usage=usage)
        self._transcript.add_usage(delta, cost_total_usd=cost_total_usd)
