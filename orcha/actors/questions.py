"""The question desk: questions for the user (or the manager) are written, announced and told to the team."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable

from orcha.actors.deps import Announce
from orcha.effects import EffectKey
from orcha.errors import ConflictError
from orcha.model import Audience, Question, QuestionStatus
from orcha.ports import Db


class QuestionDesk:
    """Opens questions and closes them when the asker was resumed some other way."""

    def __init__(self, db: Db, announce: Announce, asked: Callable[[Question], Awaitable[None]]) -> None:
        self._db = db
        self._announce = announce
        self._asked = asked

    async def ask(
        self,
        objective_id: str,
        session_id: str | None,
        text: str,
        audience: Audience,
        *,
        effect: EffectKey | None = None,
    ) -> Question:
        """Open a question; a replayed ``effect`` returns the question it opened while that one is open."""
        if effect is not None:
            first = await self._db.run(lambda s: s.find_effect(effect, "ask_user"))
            if first is not None:
                return await self._db.run(lambda s: s.get_question(first))
        question = await self._db.run(
            lambda s: s.ask_question(
                objective_id=objective_id, asked_by=session_id, text=text, audience=audience, effect=effect
            )
        )
        self._announce("question", question.id)
        await self._asked(question)
        return question

    async def close_automatically(self, question_id: str, note: str) -> None:
        """Dismiss an open question with ``note`` (kept as a note of its objective); no-op if it is closed."""
        with contextlib.suppress(ConflictError):
            question = await self._db.run(
                lambda s: s.close_question(question_id, QuestionStatus.DISMISSED, answer=note)
            )
            await self._db.run(
                lambda s: s.add_note(
                    objective_id=question.objective_id,
                    session_id=question.asked_by,
                    text=f"question {question_id} closed: {note}",
                )
            )
            self._announce("question", question_id)
