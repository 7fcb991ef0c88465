"""How a session pauses and comes back: loop-guard trips, usage exhaustion, fallback, parking.

Mixed into :class:`~orcha.actors.session.SessionActor`; every pause opens a question, and the answer (or,
for exhaustion with a known reset, the reset time itself) resumes the session.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from orcha import guards
from orcha.actors.session_host import SessionFields
from orcha.agents.contract import Exhausted
from orcha.agents.registry import Exhaustion
from orcha.model import Audience, SessionStatus, TranscriptKind

if TYPE_CHECKING:
    from orcha.actors.session_host import SessionHost

S = SessionStatus


class PausesMixin(SessionFields):
    async def _pause(self: SessionHost, reason: str, question_text: str) -> str:
        await self._close_run()
        await self._move(S.PAUSED, reason)
        question = await self._deps.questions.ask(self._session.objective_id, self.id, question_text, Audience.USER)
        self._waiting_question = question.id
        return question.id

    async def _pause_for_guard(self: SessionHost, trip: guards.Trip) -> str:
        await self._pause(
            f"loop guard: {trip.reason}",
            f"Session {self.id} was paused by a loop guard ({trip.kind}): {trip.reason}. "
            "Answer to resume it; your answer is sent to the agent.",
        )
        text = await self._next_input()
        assert text is not None
        await self._settle_question("resumed by a message to the session")
        self._guard = guards.fresh(self._deps.clock(), model_calls=0)
        await self._move(S.RUNNING, None)
        return text

    async def _choose_agent(self: SessionHost) -> str:
        chosen = self._deps.providers.choose(
            self._agent, self._deps.clock(), installed=self._deps.agents_on(self._session.target_id)
        )
        if chosen is None:
            chosen, _ = await self._park(self._agent)
        if chosen != self._agent:
            await self._switch_agent(chosen)
        return self._agent

    async def _switch_agent(self: SessionHost, agent: str) -> None:
        previous, self._agent = self._agent, agent
        self._provider_session_id = None
        await self._deps.db.run(
            lambda s: s.record_event(
                "provider_fallback",
                objective_id=self._session.objective_id,
                session_id=self.id,
                old=previous,
                new=agent,
            )
        )
        await self._deps.db.run(lambda s: s.set_session_fields(self.id, agent=agent))
        self._emit(TranscriptKind.SYSTEM, f"{previous} is out of quota: continuing on {agent}")

    async def _handle_exhaustion(self: SessionHost, event: Exhausted) -> tuple[str, bool]:
        """Fall back to another provider, or park until the reset or the user's answer. Returns the next turn."""
        await self._close_run()
        record = Exhaustion(agent=self._agent, until=event.resets_at, billing=event.billing, reason=event.message)
        await self._deps.limits.mark_exhausted(record)
        chosen = self._deps.providers.choose(
            self._agent, self._deps.clock(), installed=self._deps.agents_on(self._session.target_id)
        )
        if chosen is None:
            chosen, answer_text = await self._park(self._agent)
        else:
            answer_text = None
        if chosen != self._agent:
            await self._switch_agent(chosen)
            return self._session.prompt, True
        text = answer_text or "Your usage window has reset; carry on where you stopped."
        return text, self._provider_session_id is None

    async def _park(self: SessionHost, agent: str) -> tuple[str, str | None]:
        """Pause until ``agent`` (or a fallback) may be used: its reset time passes, or the user answers.

        Returns the agent to go on with and the user's answer (``None`` when the reset time resumed it).
        """
        record = self._deps.providers.exhaustion(agent, self._deps.clock())
        until = record.until if record else None
        when = "an unknown time" if until is None else f"{until:.0f} (Unix time)"
        if self._session.status is S.STARTING:
            await self._move(S.RUNNING, None)
        installed = self._deps.agents_on(self._session.target_id)
        others = [a for a in self._deps.providers.agents if a != agent and (installed is None or a in installed)]
        question_id = await self._pause(
            f"{agent} is out of quota until {when}",
            f"Session {self.id} is parked: {agent} is out of quota until {when} and no other provider it may fall "
            "back to is available. Answer 'wait' to wait for the reset"
            + (f", the name of another agent ({', '.join(others)}) to switch to it" if others else "")
            + ", or anything else to retry now.",
        )
        auto = self._deps.settings.auto_resume_on_reset and until is not None
        deadline = self._trio_time_of(until) if auto and until is not None else math.inf
        while True:
            text = await self._next_input(deadline=deadline)
            if text is None:  # the reset time passed
                self._waiting_question = None
                await self._deps.questions.close_automatically(
                    question_id, f"resumed automatically: {agent}'s usage window reset"
                )
                break
            await self._settle_question("resumed by a message to the session")
            word = (text.split() or [""])[0].strip(".,!'\"").lower()
            if word == "wait":
                self._emit(TranscriptKind.SYSTEM, f"waiting for {agent}'s reset, as the user asked")
                continue
            if word in others:
                await self._move(S.RUNNING, None)
                return word, None  # the user chose another agent: it starts over there
            await self._deps.limits.clear_exhausted(agent, reason="the user answered")
            break
        await self._move(S.RUNNING, None)
        return self._deps.providers.choose(agent, self._deps.clock(), installed=installed) or agent, text

    async def _settle_question(self: SessionHost, note: str) -> None:
        """A message resumed the session while its question was still open: dismiss it, with a note."""
        if self._waiting_question is not None:
            question_id, self._waiting_question = self._waiting_question, None
            await self._deps.questions.close_automatically(question_id, note)
