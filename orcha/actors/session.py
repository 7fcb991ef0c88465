"""The session actor: the one writer of a session's lifecycle, from ``queued`` to its end.

Every live session has one (started at creation, and for every unfinished session when orcha starts). It
runs as one task that takes, in arrival order, from one inbox: the messages other parts of orcha send it
(placement by the scheduler, steering, answers, cancel, its objective's end) and its agent's events (a pump
task forwards them). Whatever arrives first wins: a turn's completion that arrived before a cancel is applied
(the cancel then finds the session completed), and one that arrives after is recorded as dropped, never
applied. Every status change goes through :meth:`SessionActor._move`: write through the store, then tell the
observer — the one place where "update, then announce" happens.

The agent process belongs to the actor's scope: closing the run (a pause, a steer by cancel + resume, the
end) kills its process group, and the actor's exit closes it whatever happened (cancel, crash, shutdown).
"""

from __future__ import annotations

import collections
import contextlib
import functools
import logging
import math
from collections.abc import Iterator, Sequence
from typing import Any

import trio

from orcha import guards
from orcha.actors.deps import SessionDeps
from orcha.actors.mailbox import Envelope, Mailbox, answer
from orcha.actors.messages import (
    Answer,
    AwaitCapacity,
    CancelSession,
    Notify,
    ObjectiveEnded,
    Place,
    SessionMessage,
    Steer,
)
from orcha.actors.session_events import EventsMixin, compact
from orcha.actors.session_manager import ManagerMixin
from orcha.actors.session_pauses import PausesMixin
from orcha.actors.session_restarts import RESTARTED, RestartsMixin
from orcha.actors.session_run import AgentItem, AgentRunPump, RunClosed
from orcha.actors.transcript_buffer import TranscriptBuffer, TranscriptWriter
from orcha.actors.turns import RunEnded, TurnCompletedOk, TurnInterrupted, TurnOutcome, TurnOutOfQuota, TurnTripped
from orcha.agents.contract import AgentEvent, AgentRun, StartRequest, TurnCompleted
from orcha.agents.private_files import remove_leftovers
from orcha.errors import ConflictError, InvalidTransitionError, ObjectiveEndedError, OrchaError
from orcha.executor import Executor, prepare_executor, reachable_url, remote_state_dir
from orcha.model import (
    ObjectiveStatus,
    Session,
    SessionEnd,
    SessionMode,
    SessionRole,
    SessionStatus,
    Target,
    TargetKind,
    TranscriptKind,
)
from orcha.ports import call
from orcha.store_port import StorePort
from orcha.supervisors import compact_reason
from orcha.transitions import sessions_ending_with_objective

log = logging.getLogger(__name__)
S = SessionStatus
RESUMED = "You were restarted while you worked (orcha or your session stopped); carry on where you stopped."
STALE = frozenset({S.STARTING, S.RUNNING, S.WAITING_INPUT, S.PAUSED})
"""Live statuses that need a process: at orcha's start, a session found in one goes back to the queue."""
TOLD = frozenset({S.FAILED, S.PAUSED, S.CANCELED})
"""Moves whose reason the transcript tells too (so a failed session never has a silent transcript)."""


class _End(Exception):
    """The session ends now (``SessionActor._ending`` says how): unwind to the actor's exit."""


_Item = Envelope[SessionMessage] | AgentItem | RunClosed


class SessionActor(EventsMixin, PausesMixin, ManagerMixin, RestartsMixin):
    """Owns one session: everything else talks to it through :attr:`mailbox`."""

    def __init__(self, deps: SessionDeps, session: Session, *, adopted: bool = True) -> None:
        self.id = session.id
        self.name = f"session:{session.id}"
        self.mailbox: Mailbox[SessionMessage] = Mailbox(self.name, deliver=self._deliver)
        self.objective_id = session.objective_id
        self.role = session.role
        self.ready = trio.Event()
        """Set once the actor has looked at its session (and put a stale one back in the queue)."""
        self._deps = deps
        self._session = session
        self._agent = session.agent
        self._provider_session_id = session.provider_session_id
        self._inbox_send, self._inbox = trio.open_memory_channel[_Item](math.inf)
        self._nursery: trio.Nursery | None = None
        self._interruptible: trio.CancelScope | None = None
        self._started = False
        self._in_turn = False
        self._steered = False
        self._progressed_at: float | None = None
        """When the pump last took output that counts as progress (folded into ``_guard`` by the actor)."""
        self._tool_names: dict[str, str] = {}
        """The tools of the calls whose results have not come yet, by call id (a result's line names its tool)."""
        self._inputs: collections.deque[str] = collections.deque()
        self._queued_turns = 0
        self._waiting_question: str | None = None
        self._asked_before: str | None = None
        """The question the session waited on when orcha stopped (a restart waits on it again)."""
        self._ending: tuple[SessionStatus, str] | None = None
        self._interrupted = False
        self._pane_offset = session.pane_offset
        """How far into its tmux pane's log the transcript has read (a re-adopted pane goes on from here)."""
        """orcha is stopping under the session (its scope was cancelled from outside)."""
        self._crashed: tuple[SessionStatus, str] | None = None
        self._end_by = math.inf
        """When set, the session ends (as ``_ending`` says) at its turn's end, or at this trio time."""
        self._cancel_callers: list[Envelope[Any]] = []
        self._end_callers: list[Envelope[Any]] = []
        self._own_writer = (
            None
            if deps.transcripts is not None
            else TranscriptWriter(
                deps.db, self._appended, on_usage=lambda _ids: deps.observer.session_updated(self._session)
            )
        )
        sink = deps.transcripts if deps.transcripts is not None else self._own_writer
        assert sink is not None
        self._transcript = TranscriptBuffer(sink, session.id, clock=deps.clock)
        self._runs = AgentRunPump(self._put, self._take_output, self._transcript.room, self._transcript.full)
        self._guard = guards.fresh(deps.clock(), model_calls=session.usage.model_calls)
        self._cost_base = session.usage.cost_usd
        self._cwd: str | None = None
        self._executor: Executor | None = None
        self._target: Target | None = None
        """The target the scheduler placed the session on, as it saw it (for the executor)."""
        self._objective_checked = False
        """The objective was found active by the move just made (the next turn need not read it again)."""
        self._notice_flag = False
        self._delivering: list[int] = []
        self._stall_stage = 0
        self._headless_recorded = False
        """A headless process was recorded since the run was last closed (its record goes at the close)."""
        self._drop_resumed = False
        """Whether this turn's agent on an SSH target was already resumed once after its run ended."""
        self._adopted = adopted
        """The session may have run under an earlier orcha (found at start, not created by this one): only then
        can a killed orcha's runs have left secret files behind, so only then are they looked for at the end."""
        self._processes_forgotten = False
        """The end's write forgot the session's recorded processes (none ran by then)."""

    # --- life ---------------------------------------------------------------------------------------------

    async def run(self) -> None:
        """The actor's task: returns when the session has ended (or orcha stops). A crash fails the session
        with a compact reason, then propagates to the supervisor."""
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                if self._own_writer is not None:
                    nursery.start_soon(self._own_writer.run)
                with contextlib.suppress(_End):
                    await self._life()
                self.mailbox.close()  # it is ending: later calls fail at once, not after the agent's kill
                with trio.CancelScope(shield=True):
                    await self._close_run(wait_late=True)
                nursery.cancel_scope.cancel()
        except BaseException as exc:
            if _only_cancelled(exc):  # orcha is stopping: the session carries on when it starts again
                self._interrupted = True
            elif isinstance(exc, Exception):
                self._ending = self._crashed = (S.FAILED, f"crashed: {compact_reason(exc)}")
            raise
        finally:
            self.ready.set()
            with trio.CancelScope(shield=True):
                await self._finish()

    async def _life(self) -> None:
        if self._adopted:  # found at start (or written by another): as the store has it now
            self._session = await self._deps.db.run(lambda s: s.get_session(self.id))
        # else: just created by this orcha, which handed it over; its actor is the one writer of its status
        if self._session.status.is_terminal:
            return
        self._asked_before = self._session.waiting_question
        self._pane_offset = self._session.pane_offset
        if self._session.status in STALE:  # orcha stopped under it: no process runs it now
            await self._requeue()
        self.ready.set()
        if self._session.status in (S.QUEUED, S.WAITING_CAPACITY):
            await self._wait_for_placement()
        self._started = True
        await self._work()

    async def _requeue(self) -> None:
        if self._session.status not in (S.STARTING, S.PAUSED):
            await self._move(S.PAUSED, RESTARTED)
        await self._move(S.QUEUED, RESTARTED)
        await self._deps.db.run(lambda s: s.release_target_slot(self.id))

    async def _wait_for_placement(self) -> None:
        """Queued: wait for the scheduler to place the session (it holds a slot for it by then)."""
        while True:
            item = await self._inbox.receive()
            if not isinstance(item, Envelope):
                continue
            match item.message:
                case Place(target_id=target_id, target=target):
                    self._target = target if target is not None and target.id == target_id else None
                    reason = f"placed on {target_id}"
                    await answer(item, functools.partial(self._placed, reason))
                    if self._session.status not in (S.STARTING, S.RUNNING):  # refused (its caller was told why)
                        self._session = await self._deps.db.run(lambda s: s.get_session(self.id))
                        if self._session.status.is_terminal:
                            raise _End
                    return  # the move read the session back, with where it was placed
                case AwaitCapacity(reason=reason):
                    if self._session.status is S.QUEUED:
                        await self._move(S.WAITING_CAPACITY, reason)
                case _:
                    await self._control(item)

    async def _placed(self, reason: str) -> None:
        """Placed: ``starting``, or (nothing to prepare) ``starting`` and ``running`` in one write."""
        if self._straight_start():
            mode = SessionMode.INTERACTIVE if self._interactive() else SessionMode.NONINTERACTIVE
            start = call(StorePort.start_running, self.id, reason=reason, mode=mode, agent=self._agent)
            with contextlib.suppress(ObjectiveEndedError):  # it has ended: the usual way, which ends the session
                self._session = await self._deps.db.run(start)
                await self._deps.observer.session_moved(self._session)
                return
        await self._move(S.STARTING, reason)

    def _straight_start(self) -> bool:
        """Whether the session may run as soon as it is placed: no workspace to check out, this machine (no
        connection to make), and its own agent available (else ``_work`` prepares, chooses and moves)."""
        target = self._target
        if self._session.workspace_id is not None or self._session.waiting_question is not None:
            return False
        if target is None or target.kind is not TargetKind.LOCAL:
            return False
        chosen = self._deps.providers.choose(self._agent, self._deps.clock(), installed=self._deps.agents_on(target.id))
        return chosen == self._agent

    async def _finish(self) -> None:
        """Kill what runs, write the end (if the session ends), answer whoever waits on us; leave."""
        self.mailbox.close()  # later calls fail at once with ActorGone
        interrupted = self._interrupted and self._ending is None
        left_running = interrupted and hasattr(self._runs.run, "detach")
        await self._close_run(wait_late=False, leave_running=interrupted)
        if interrupted and self._started:
            await self._record_interruption(left_running=left_running)
        leftovers = []
        with contextlib.suppress(trio.WouldBlock, trio.EndOfChannel):
            while True:
                leftovers.append(self._inbox.receive_nowait())
        for item in leftovers:
            await self._leftover(item)
        if self._crashed is not None:
            reason = self._crashed[1]
            await self._deps.db.run(
                lambda s: s.record_event("actor_crashed", session_id=self.id, actor=self.name, reason=reason)
            )
        if self._ending is not None:
            status, reason = self._ending
            with contextlib.suppress(_End, OrchaError):
                await self._move(status, reason)
        await self._transcript.flush()
        stop_leftovers = self._deps.stop_leftovers
        if stop_leftovers is not None and self._adopted and self._session.status.is_terminal:
            await stop_leftovers(self.id)  # a pane found at start that no run of ours holds (not re-attached yet)
        if self._processes_forgotten:  # by the end's own write (nothing of it was running then)
            session = self._session
        else:
            session = await self._deps.db.run(lambda s: s.forget_owned_processes_if_ended(self.id))  # a pane's too
        if session.status.is_terminal:
            with contextlib.suppress(OrchaError):
                await self._deps.workspaces.release(session)
            if self._executor is not None and self._adopted:  # secret files a killed orcha's runs left behind
                try:
                    await remove_leftovers(self._executor, self.id)
                except Exception as exc:  # a clean-up: it never keeps the session from ending
                    log.warning("session %s: cannot look for leftover secret files: %s", self.id, exc)
        self._deps.mcp.forget(self.id)
        self._deps.observer.session_exited(self.id)
        for envelope in self._cancel_callers:
            await answer(envelope, functools.partial(_canceled, session))
        for envelope in self._end_callers:
            await answer(envelope, functools.partial(_as_it_is, session))

    async def _leftover(self, item: _Item) -> None:
        """What was still in the inbox at the end: cancel callers get the outcome, late events are recorded."""
        match item:
            case Envelope(message=CancelSession()):
                self._cancel_callers.append(item)
            case Envelope(message=ObjectiveEnded()) if item.reply is not None:
                self._end_callers.append(item)
            case Envelope():
                item.abandon()
            case AgentItem(event=event):
                await self._record_late(event)

    async def _record_late(self, event: AgentEvent) -> None:
        kind = "late_completion_dropped" if isinstance(event, TurnCompleted) else "late_event_dropped"
        objective_id, name = self.objective_id, type(event).__name__
        await self._deps.db.run(
            lambda s: s.record_event(kind, objective_id=objective_id, session_id=self.id, event=name)
        )

    # --- the inbox ----------------------------------------------------------------------------------------

    def _deliver(self, envelope: Envelope[SessionMessage]) -> None:
        """A message, into the inbox in order (in the sender's task); one that ends the session also
        interrupts a long step."""
        if self._ends_us(envelope.message) and self._interruptible is not None:
            self._interruptible.cancel()
        self._inbox_send.send_nowait(envelope)

    def _put(self, item: _Item) -> None:
        """Into the (unbounded) inbox, at once: what the pump took is never lost (the pump's next wait for
        demand is its checkpoint)."""
        self._inbox_send.send_nowait(item)

    def _ends_us(self, message: SessionMessage) -> bool:
        if isinstance(message, CancelSession):
            return True
        return isinstance(message, ObjectiveEnded) and message.completed_by != self.id

    @contextlib.contextmanager
    def _interruptible_step(self) -> Iterator[trio.CancelScope]:
        """A long step (a checkout, starting a process) that a cancel may cut short."""
        scope = trio.CancelScope()
        self._interruptible = scope
        try:
            with scope:
                yield scope
        finally:
            self._interruptible = None

    async def _heed(self) -> None:
        """A long step was interrupted: take the inbox until the message that ends the session."""
        while True:
            await self._between_turns(await self._inbox.receive())

    async def _control(self, envelope: Envelope[SessionMessage]) -> None:
        """A message from the rest of orcha, in any phase. Raises :class:`_End` when the session ends now."""
        match envelope.message:
            case CancelSession(reason=reason):
                self._ending = (S.CANCELED, reason)
                self._cancel_callers.append(envelope)
                raise _End
            case ObjectiveEnded(status=status, completed_by=completed_by):
                endings = sessions_ending_with_objective(status, [self._session], completed_by=completed_by)
                if envelope.reply is not None:
                    self._end_callers.append(envelope)  # answered once the session has ended
                if not endings:
                    return
                self._ending = (endings[0].status, endings[0].reason)
                if endings[0].status is S.COMPLETED and self._in_turn:  # the manager that declared it done:
                    self._end_by = trio.current_time() + self._deps.settings.done_turn_grace  # it ends its turn
                    return
                raise _End
            case Steer(text=text):
                await answer(envelope, functools.partial(self._accept_input, text, steer=True))
            case Answer(question_id=question_id, text=text):
                await answer(envelope, functools.partial(self._accept_answer, question_id, text))
            case Notify():
                self._notice_flag = True
            case Place():
                await answer(envelope, functools.partial(_refuse_place, self._session))
            case AwaitCapacity():
                pass

    async def _between_turns(self, item: _Item) -> None:
        match item:
            case Envelope():
                await self._control(item)
            case AgentItem(generation=generation, event=event) if generation == self._runs.generation:
                await self._on_event(event)  # an interactive process may say more between turns
            case AgentItem(event=event):
                await self._record_late(event)
            case RunClosed(generation=generation) if generation == self._runs.generation:
                self._runs.run = None  # the process went away while idle; the next turn resumes the conversation
            case RunClosed():
                pass

    async def _accept_input(self, text: str, *, steer: bool) -> None:
        if not self._started:
            raise ConflictError(f"session {self.id} is {self._session.status}: it has not started yet")
        if steer:
            self._emit(TranscriptKind.USER, text)
        if self._in_turn and self._runs.run is not None and self._interactive():
            await self._runs.run.send(text)  # interactive: a new user turn in the running process, queued by it
            self._queued_turns += 1
            return
        self._inputs.append(text)
        if self._in_turn:
            self._steered = True  # non-interactive: steer by cancel + resume

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
        while not self._inputs and not (wake_on_notice and self._notice_flag):
            item = None
            with trio.move_on_at(deadline):
                item = await self._inbox.receive()
            if item is None:
                break
            await self._between_turns(item)
        return self._inputs.popleft() if self._inputs else None

    # --- the work -----------------------------------------------------------------------------------------

    async def _work(self) -> None:
        if self._session.status is S.RUNNING and self._target is not None:  # started straight (``_placed``)
            with contextlib.suppress(OrchaError):
                self._executor = self._deps.executors.for_target(self._target)
        else:
            with self._interruptible_step() as step:
                workspace = await self._prepare_workspace()
            if step.cancelled_caught:
                await self._heed()
            if workspace is False:
                return
            agent = await self._choose_agent()
            mode = SessionMode.INTERACTIVE if self._interactive() else SessionMode.NONINTERACTIVE
            await self._move(S.RUNNING, None, mode=mode, agent=agent, objective_active=True)  # one write for it all
        self._objective_checked = True  # the first turn's check was the move's
        text, fresh_start, consume_only = self._session.prompt, True, False
        if self._provider_session_id is not None:  # orcha restarted under it: carry on, with any news
            answer = await self._answer_asked_before()
            news = None if answer is not None else await self._take_notices()
            text = answer if answer is not None else RESUMED + (f"\n\n{news}" if news else "")
            fresh_start = False
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
                    self._drop_resumed = False
                    if self._end_by < math.inf:
                        raise _End
                    if self._queued_turns and self._runs.run is not None:
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
                    if not await self._resume_after_drop():
                        await self._move(S.FAILED, "the agent exited without completing its turn")
                        return
                    text = RESUMED

    async def _prepare_workspace(self) -> bool | None:
        """Check out the session's workspace and find its executor; ``False`` when the session failed."""
        try:
            workspace = await self._deps.workspaces.prepare(self._session)
        except OrchaError as exc:
            await self._move(S.FAILED, f"workspace: {exc}")
            return False
        self._cwd = workspace.path if workspace is not None else None
        if self._session.target_id is not None:
            target_id = self._session.target_id
            target = self._target
            if target is None or target.id != target_id:
                target = await self._deps.db.run(lambda s: s.get_target(target_id))
            with contextlib.suppress(OrchaError):
                self._executor = self._deps.executors.for_target(target)
                await prepare_executor(self._executor)  # an SSH target: connected, orcha's port forwarded
        return None

    async def _after_turn(self, final: str, failed: bool) -> str | None:
        """What follows a completed turn: the next message to send, or ``None`` when the session is over.

        A manager checks its objective first; a worker's next turn checks it, and so do the moves that end
        or park it here (in their own transaction)."""
        manager = self._session.role is not SessionRole.WORKER
        if manager:
            await self._end_if_objective_ended()
        if self._inputs:
            self._objective_checked = manager  # just now: its next turn, at once, need not read it again
            return self._inputs.popleft()
        news = await self._take_notices()
        if news is not None:  # what happened to the team while the manager was busy, in one turn
            self._objective_checked = manager
            return news
        if self._waiting_question is not None:
            await self._move(S.WAITING_INPUT, "waiting for an answer", objective_active=True)
            text = await self._next_input()
            await self._settle_question("the session was steered instead")
            await self._move(S.RUNNING, None)
            return text
        if failed:
            await self._move(S.FAILED, compact(final) or "the turn failed", objective_active=True)
            return None
        if self._session.role is SessionRole.WORKER:
            await self._close_run(forget=False)  # its record goes with the end's (one write)
            await self._move(S.COMPLETED, compact(final), objective_active=True)
            return None
        text = await self._manager_wait()  # a manager never completes by itself: it waits for its team
        if self._session.status is not S.RUNNING:
            await self._move(S.RUNNING, None, objective_active=True)
            self._objective_checked = True  # by the move, in its transaction: the turn need not read it again
        return text

    async def _end_if_objective_ended(self) -> None:
        """No turn starts for a session whose objective has ended (its ``ObjectiveEnded`` may still be on its
        way): the manager of a done objective completes, every other session is canceled."""
        objective_id = self.objective_id
        objective = await self._deps.db.run(lambda s: s.get_objective(objective_id))
        if objective.status.is_terminal:
            done_manager = objective.status is ObjectiveStatus.DONE and self.role is SessionRole.MANAGER
            self._ending = (S.COMPLETED if done_manager else S.CANCELED, f"objective {objective.status}")
            raise _End

    async def _turn_with(self, text: str, *, fresh_start: bool) -> TurnOutcome:
        if not self._objective_checked:
            await self._end_if_objective_ended()
        self._objective_checked = False
        provider = self._deps.providers.provider(self._agent)
        if fresh_start or (self._runs.run is None and self._provider_session_id is None):
            await self._close_run()
            self._cost_base = self._session.usage.cost_usd
            await self._open_run(lambda: provider.start(self._request(text)))
        elif self._runs.run is not None and provider.capabilities.interactive:
            await self._runs.run.send(text)
        else:
            await self._close_run()
            psid = self._provider_session_id
            assert psid is not None
            try:
                await self._open_run(lambda: provider.resume(self._request(text), psid, text))
            except (OrchaError, LookupError) as exc:  # the conversation is gone (e.g. another machine)
                self._emit(TranscriptKind.SYSTEM, f"cannot resume {psid}: {exc}; starting over")
                self._provider_session_id = None
                self._cost_base = self._session.usage.cost_usd
                await self._open_run(lambda: provider.start(self._request(self._session.prompt)))
        await self._mark_delivered()  # the notices in this turn have reached the agent
        return await self._consume_turn()

    async def _open_run(self, start: Any) -> None:
        """Start the agent's process (interruptible by a cancel) and pump its events into the inbox."""
        run: AgentRun | None = None
        with self._interruptible_step() as step:
            run = await start()
        if step.cancelled_caught:
            if run is not None:
                with trio.CancelScope(shield=True):
                    await run.cancel()
            await self._heed()
        assert run is not None and self._nursery is not None
        self._runs.open(run, self._nursery)

    async def _resume_after_drop(self) -> bool:
        """An agent on an SSH target whose run ended mid-turn (its connection dropped, most likely) is resumed
        once per turn through its provider session id; ``False`` when it is not to be (then the session fails)."""
        psid = self._provider_session_id
        if remote_state_dir(self._executor) is None or psid is None or self._drop_resumed:
            return False
        self._drop_resumed = True
        await self._close_run()  # its remote group goes, over the connection (opened again)
        self._emit(TranscriptKind.SYSTEM, f"the agent's run on its SSH target ended mid-turn: resuming {psid}")
        return True

    async def _consume_turn(self) -> TurnOutcome:
        """Take the inbox until the turn ends: agent events and messages, in the order they arrived."""
        self._in_turn, self._steered = True, False
        self._guard = guards.on_turn_start(self._guard, self._deps.clock())
        try:
            while True:
                self._fold_progress()
                deadline = guards.progress_deadline(self._deps.settings.guards, self._guard)
                idle_at = math.inf if deadline is None else self._trio_time_of(deadline)
                self._runs.want()
                item = None
                with trio.move_on_at(min(idle_at, self._end_by)):
                    item = await self._inbox.receive()
                if item is None and trio.current_time() >= self._end_by:
                    raise _End
                if item is None:
                    if self._progressed_at is not None:
                        continue  # output came meanwhile (taken by the pump): the idle clock starts over
                    return TurnTripped(guards.idle_trip(self._deps.settings.guards))
                match item:
                    case AgentItem(generation=generation, event=event) if generation == self._runs.generation:
                        outcome = await self._on_event(event)
                        if outcome is not None:
                            return outcome
                    case RunClosed(generation=generation) if generation == self._runs.generation:
                        return RunEnded()
                    case _:
                        await self._between_turns(item)
                        if self._steered:
                            return TurnInterrupted()
        finally:
            self._in_turn = False
            self._fold_progress()

    async def snapshot(self) -> str:
        """The run's screen, for providers that have one."""
        snapshot = getattr(self._runs.run, "snapshot", None)
        if snapshot is None:
            raise ConflictError(f"session {self.id} has no live screen right now")
        return str(await snapshot())

    # --- plumbing -----------------------------------------------------------------------------------------

    def _interactive(self) -> bool:
        return self._deps.providers.provider(self._agent).capabilities.interactive

    def _trio_time_of(self, wall_time: float) -> float:
        """The trio clock reading at which wall-clock ``wall_time`` arrives."""
        return trio.current_time() + (wall_time - self._deps.clock())

    def _request(self, text: str) -> StartRequest:
        mcp_url, mcp_token = self._deps.mcp.endpoint(self.id)
        return StartRequest(
            mcp_url=reachable_url(self._executor, mcp_url),
            mcp_token=mcp_token,
            session_id=self.id,
            objective_id=self._session.objective_id,
            role=self._session.role,
            agent=self._agent,
            prompt=text,
            cwd=self._cwd,
            tools=self._deps.tools_for(self.id),
            executor=self._executor,
            resume_offset=self._pane_offset,
            record_process=self._record_process,
        )

    async def _close_run(self, *, wait_late: bool = False, leave_running: bool = False, forget: bool = True) -> None:
        """Stop the agent's process (its whole group); see :meth:`AgentRunPump.close`. Without ``forget``
        (the session ends next), its record stays for the end to forget with the others."""
        self._queued_turns = 0  # turns queued in the process die with it
        await self._runs.close(wait_late=wait_late, leave_running=leave_running)
        if self._headless_recorded and forget:  # its process is dead now (a tmux pane's record lives until the end)
            await self._deps.db.run(lambda s: s.forget_owned_processes(self.id, kind="headless"))
        self._headless_recorded = False

    async def _move(
        self,
        status: SessionStatus,
        reason: str | None,
        *,
        mode: SessionMode | None = None,
        agent: str | None = None,
        objective_active: bool = False,
    ) -> None:
        """The one place a session's status changes: write it through the store, then tell the observer.

        A failure, a pause or a cancel also leaves its reason in the transcript, as a ``system`` line. With
        ``objective_active``, the move is made only while the objective is active (checked in its transaction);
        otherwise the session ends as :meth:`_end_if_objective_ended` says."""
        if status in TOLD and reason and self._session.status is not status:
            self._emit(TranscriptKind.SYSTEM, f"{status}: {reason}")
        await self._transcript.flush()
        await self._keep_waiting_question(status, reason)
        end: SessionEnd | None = None
        try:
            if status.is_terminal and mode is None and agent is None:  # the end, and what goes with it: one write
                forget = self._runs.run is None and not self._leftovers_to_stop()
                end = await self._deps.db.run(
                    call(
                        StorePort.end_session,
                        self.id,
                        status,
                        reason=reason,
                        only_if_objective_active=objective_active,
                        forget_processes=forget,
                    )
                )
                self._session, self._processes_forgotten = end.session, forget
            else:
                move = call(
                    StorePort.update_session_status,
                    self.id,
                    status,
                    reason=reason,
                    mode=mode,
                    agent=agent,
                    only_if_objective_active=objective_active,
                )
                self._session = await self._deps.db.run(move)
        except ObjectiveEndedError:
            await self._end_if_objective_ended()  # it has: the session ends
            raise
        except InvalidTransitionError as exc:
            current = await self._deps.db.run(lambda s: s.get_session(self.id))
            if current.status.is_terminal:
                await self._deps.db.run(
                    lambda s: s.record_event(
                        "late_transition_dropped",
                        objective_id=current.objective_id,
                        session_id=self.id,
                        requested=status,
                        current=current.status,
                    )
                )
                raise _End from exc
            raise
        await self._deps.observer.session_moved(self._session, end)

    def _leftovers_to_stop(self) -> bool:
        """Whether the end may find a pane an earlier orcha left running (its records wait for it to stop)."""
        return self._deps.stop_leftovers is not None and self._adopted

    def _emit(
        self,
        kind: TranscriptKind,
        body: str,
        *,
        pane_offset: int | None = None,
        failed: bool = False,
        tool: str | None = None,
    ) -> None:
        if pane_offset is not None:
            self._pane_offset = pane_offset
        self._transcript.emit(kind, body, pane_offset=pane_offset, failed=failed, tool=tool)

    def _appended(self, session_ids: Sequence[str]) -> None:
        for session_id in session_ids:
            self._deps.observer.transcript_appended(session_id)


def _only_cancelled(exc: BaseException) -> bool:
    """Whether ``exc`` is a cancellation (alone or grouped), which is how orcha's stop reaches an actor."""
    if isinstance(exc, BaseExceptionGroup):
        return all(_only_cancelled(inner) for inner in exc.exceptions)
    return isinstance(exc, trio.Cancelled)


async def _canceled(session: Session) -> Session:
    """What a cancel caller gets: the canceled session, or a refusal when something else ended it first."""
    if session.status is not S.CANCELED:
        raise InvalidTransitionError("session", str(session.status), "canceled", allowed=frozenset())
    return session


async def _as_it_is(session: Session) -> Session:
    return session


async def _refuse_place(session: Session) -> None:
    raise ConflictError(f"session {session.id} is {session.status}: it is not waiting to be placed")
