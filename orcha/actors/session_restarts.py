"""How a session actor survives orcha's restarts: what it records so the next orcha carries on, and how it
picks up again (the question it waited on, the process it owned, the stop that interrupted it).

Mixed into :class:`~orcha.actors.session.SessionActor` (its methods take ``self: SessionHost``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orcha.actors.session_host import SessionFields
from orcha.errors import ConflictError
from orcha.model import QuestionStatus, SessionStatus, TranscriptKind
from orcha.processes import ProcessIdentity

if TYPE_CHECKING:
    from orcha.actors.session_host import SessionHost

S = SessionStatus
RESTARTED = "orcha restarted while it ran"


class RestartsMixin(SessionFields):
    async def _answer_asked_before(self: SessionHost) -> str | None:
        """The answer to the question the session waited on before orcha restarted (waiting for it again
        while it is open); ``None`` when it waited on none."""
        question_id, self._asked_before = self._asked_before, None
        if question_id is None:
            return None
        question = await self._deps.db.run(lambda s: s.get_question(question_id))
        if question.status is not QuestionStatus.OPEN:
            return question.answer or "carry on"
        self._waiting_question = question.id
        await self._move(S.WAITING_INPUT, "waiting for an answer (asked before orcha restarted)")
        text = await self._next_input()
        await self._settle_question("the session was steered instead")
        await self._move(S.RUNNING, None)
        return text or "carry on"

    async def _record_interruption(self: SessionHost, *, left_running: bool) -> None:
        """orcha stops under a live session: say so (the transcript, the audit log); at the next start the
        session is requeued and carries on (a tmux pane is re-adopted, a headless agent resumed)."""
        how = "its tmux pane is left running" if left_running else "its agent was stopped"
        self._emit(TranscriptKind.SYSTEM, f"orcha stopped while the session was {self._session.status}: {how}")
        status = str(self._session.status)
        await self._deps.db.run(
            lambda s: s.record_event(
                "session_interrupted", objective_id=self.objective_id, session_id=self.id, status=status
            )
        )

    async def _record_process(self: SessionHost, identity: ProcessIdentity) -> None:
        """Store the agent process's identity before it runs (after a crash, the boot sweep finds it)."""
        target_id = self._session.target_id
        if target_id is None:
            raise ConflictError(f"session {self.id} has no target to run a process on")
        if identity.kind == "headless":
            self._headless_recorded = True
        await self._deps.db.run(lambda s: s.record_owned_process(self.id, target_id, identity))

    async def _keep_waiting_question(self: SessionHost, status: SessionStatus, reason: str | None) -> None:
        """A session that starts waiting on a question records it (a restart waits on it again); one that
        runs again lets it go."""
        if status in (S.WAITING_INPUT, S.PAUSED) and reason != RESTARTED:
            keep: str | None = self._waiting_question
        elif status is S.RUNNING:
            keep = None
        else:
            return
        if keep != self._session.waiting_question:
            self._session = await self._deps.db.run(lambda s: s.set_session_fields(self.id, waiting_question=keep))
