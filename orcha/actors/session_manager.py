"""What a manager session does between turns: hear its team, wait for it, and never stall silently.

Mixed into :class:`~orcha.actors.session.SessionActor`. Pending notices are delivered as one turn as soon as
the manager is not busy, and marked delivered once sent. A manager whose turn ended waits (it does not
complete) and says what for; one with no live workers and no open question that makes no progress for
``manager_idle_seconds`` is nudged once, and after as long again the user is asked, with a summary.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import trio

from orcha.actors.session_host import SessionFields
from orcha.actors.team_news import compose
from orcha.model import Audience, Notice, SessionRole, SessionStatus
from orcha.ports import call
from orcha.store_port import StorePort

if TYPE_CHECKING:
    from orcha.actors.session_host import SessionHost

S = SessionStatus
NUDGE = (
    "You have no live workers and no open questions, and nothing has happened for a while. Continue the objective "
    "(spawn_session for more work), ask the user if you are blocked, or call mark_objective_done with a summary."
)


class ManagerMixin(SessionFields):
    async def _take_notices(self: SessionHost) -> str | None:
        """All pending notices as one turn (they are marked delivered once the turn is sent)."""
        if self._session.role is not SessionRole.MANAGER:
            return None
        notices = await self._deps.db.run(lambda s: s.pending_notices(self._session.objective_id))
        return self._took_notices(notices)

    def _took_notices(self: SessionHost, notices: list[Notice]) -> str | None:
        self._notice_flag = False
        if not notices:
            return None
        self._delivering = [n.id for n in notices]
        self._stall_stage = 0
        return compose([n.text for n in notices])

    async def _mark_delivered(self: SessionHost) -> None:
        if self._delivering:
            ids, self._delivering = self._delivering, []
            await self._deps.db.run(lambda s: s.mark_notices_delivered(ids, session_id=self.id))

    async def _manager_wait(self: SessionHost) -> str:
        """Wait as a manager; returns the next turn's text (notices, a message, an answer or a nudge)."""
        idle_seconds = self._deps.settings.manager_idle_seconds
        objective_id = self._session.objective_id
        while True:
            wake = await self._deps.db.run(lambda s: s.manager_wake(objective_id))  # one read for it all
            news = self._took_notices(wake.notices)
            if news is not None:
                return news
            workers, questions = wake.live_workers, wake.open_questions
            if workers:
                reason = f"waiting for its team: {len(workers)} live worker(s) ({', '.join(workers[:5])})"
            elif questions:
                reason = f"waiting for answers: {', '.join(questions[:5])}"
            else:
                reason = "idle: no live workers and no open questions"
            if self._session.status is not S.WAITING_INPUT:
                await self._move(S.WAITING_INPUT, reason)
            elif self._session.status_reason != reason:
                self._session = await self._deps.db.run(call(StorePort.set_status_reason, self.id, reason))
                await self._deps.observer.session_moved(self._session)
            stalled = not workers and not questions and idle_seconds is not None and self._stall_stage < 2
            deadline = trio.current_time() + idle_seconds if stalled and idle_seconds is not None else math.inf
            text = await self._next_input(deadline=deadline, wake_on_notice=True)
            if text is not None:
                self._stall_stage = 0
                return text
            if self._notice_flag:
                continue
            if not stalled:
                continue
            if self._stall_stage == 0:
                self._stall_stage = 1
                await self._deps.db.run(
                    lambda s: s.record_event(
                        "manager_nudged", objective_id=self._session.objective_id, session_id=self.id
                    )
                )
                return NUDGE
            self._stall_stage = 2
            await self._escalate()

    async def _escalate(self: SessionHost) -> None:
        objective_id = self._session.objective_id
        sessions = await self._deps.db.run(lambda s: s.list_sessions(objective_id=objective_id))
        prs = await self._deps.db.run(lambda s: s.list_pull_requests(objective_id=objective_id))
        workers = [s for s in sessions if s.role is SessionRole.WORKER]
        outcome = ", ".join(f"{s.id} {s.status}" for s in workers) or "no workers"
        pr_text = ", ".join(f"#{p.number} ({p.state})" for p in prs) or "no PRs"
        await self._deps.questions.ask(
            objective_id,
            self.id,
            f"The manager {self.id} seems stalled: it was nudged and still makes no progress. Workers: {outcome}. "
            f"PRs: {pr_text}. Tell it what to do next (your answer is sent to it), or mark the objective done.",
            Audience.USER,
        )
