"""What the parts of a session actor may use of it: one Protocol, checked by mypy.

The event handling, the pauses and the manager's waiting live in their own modules as mixins of
:class:`~orcha.actors.session.SessionActor`; each of their methods takes ``self: SessionHost``, so mypy proves
the actor has every field and method they use (a renamed or missing one fails the type check, no hand-kept
stub can drift). All of it runs in the actor's one task, but for :meth:`EventsMixin._take_output`, which the
run's pump calls synchronously (so between two steps of the actor) to write a line and ``_progressed_at``.
"""

from __future__ import annotations

import math
from typing import Protocol

from orcha import guards
from orcha.actors.deps import SessionDeps
from orcha.actors.session_run import AgentRunPump
from orcha.actors.transcript_buffer import TranscriptBuffer
from orcha.agents.contract import Exhausted, UsageReport
from orcha.model import Notice, Session, SessionMode, SessionStatus, TranscriptKind, Usage


class SessionFields:
    """The fields the parts of a session actor assign, declared once (so every part agrees on their types)."""

    _session: Session
    _agent: str
    _provider_session_id: str | None
    _waiting_question: str | None
    _guard: guards.GuardState
    _notice_flag: bool
    _delivering: list[int]
    _stall_stage: int
    _asked_before: str | None
    _headless_recorded: bool
    _progressed_at: float | None
    _tool_names: dict[str, str]


class SessionHost(Protocol):
    id: str
    objective_id: str
    _deps: SessionDeps
    _session: Session
    _agent: str
    _provider_session_id: str | None
    _waiting_question: str | None
    _guard: guards.GuardState
    _cost_base: float
    _notice_flag: bool
    _delivering: list[int]
    _stall_stage: int
    _asked_before: str | None
    _headless_recorded: bool
    _progressed_at: float | None
    _tool_names: dict[str, str]
    _in_turn: bool
    _steered: bool
    _runs: AgentRunPump
    _transcript: TranscriptBuffer

    def _emit(
        self,
        kind: TranscriptKind,
        body: str,
        *,
        pane_offset: int | None = None,
        failed: bool = False,
        tool: str | None = None,
    ) -> None: ...
    def _trio_time_of(self, wall_time: float) -> float: ...
    async def _move(
        self,
        status: SessionStatus,
        reason: str | None,
        *,
        mode: SessionMode | None = None,
        agent: str | None = None,
        objective_active: bool = False,
    ) -> None: ...
    async def _close_run(
        self, *, wait_late: bool = False, leave_running: bool = False, forget: bool = True
    ) -> None: ...
    async def _next_input(self, *, deadline: float = math.inf, wake_on_notice: bool = False) -> str | None: ...

    # the pauses (session_pauses.py)
    async def _pause(self, reason: str, question_text: str) -> str: ...
    async def _park(self, agent: str) -> tuple[str, str | None]: ...
    async def _switch_agent(self, agent: str) -> None: ...
    async def _settle_question(self, note: str) -> None: ...
    async def _handle_exhaustion(self, event: Exhausted) -> tuple[str, bool]: ...
    async def _pause_for_guard(self, trip: guards.Trip) -> str: ...
    async def _choose_agent(self) -> str: ...

    # the events (session_events.py)
    def _fold_progress(self) -> None: ...
    def _record_usage(self, usage: UsageReport) -> None: ...
    def _add_usage(self, delta: Usage, *, cost_total_usd: float | None = None) -> None: ...

    # the manager (session_manager.py)
    async def _take_notices(self) -> str | None: ...
    def _took_notices(self, notices: list[Notice]) -> str | None: ...
    async def _escalate(self) -> None: ...
    async def _mark_delivered(self) -> None: ...
    async def _manager_wait(self) -> str: ...
