"""The manager hears its team: what happens to its workers, questions and PRs becomes notices.

A notice is stored first (so a restart loses none), then the manager's actor is poked. The manager gets all
pending notices in order as one concise user turn as soon as it is not busy: an interactive manager in its
running process, a non-interactive one on its next resume. When the last worker ends, a "team finished"
notice sums up the outcomes and the PRs.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Sequence

from orcha import team_notices
from orcha.model import Audience, PullRequest, Question, Session, SessionEnd, SessionRole, TeamMember
from orcha.ports import Db

LIVE = ("queued", "waiting_capacity", "starting", "running", "waiting_input", "paused")


def compose(texts: Sequence[str]) -> str:
    """One user turn out of several notices, in order."""
    if len(texts) == 1:
        return f"Update from your team: {texts[0]}"
    return "Updates from your team, in order:\n" + "\n".join(f"- {t}" for t in texts)


class TeamNews:
    """Writes notices for an objective's manager, then pokes it (``wake_manager``)."""

    def __init__(self, db: Db, *, wake_manager: Callable[[str], None]) -> None:
        self._db = db
        self._wake_manager = wake_manager

    async def notify(self, objective_id: str, kind: str, text: str) -> None:
        await self._notify(objective_id, kind, text)

    async def _notify(self, objective_id: str, kind: str, text: str) -> int | None:
        """Store the notice and poke the manager; how many workers are live (``None``: the objective is no
        longer active, so nothing was stored: its manager is ending too)."""
        notice, live = await self._db.run(lambda s: s.add_team_notice(objective_id, kind, text))
        if notice is None:
            return None
        self._wake_manager(objective_id)
        return live

    async def session_ended(self, session: Session, end: SessionEnd | None = None) -> None:
        """A worker ended: the manager hears it, and when it was the last live one, that the team finished.
        ``end`` is what the end's own write told the manager (the usual case: then no store call here);
        without it the notice is written now. The summary reads the team once, at its end."""
        if session.role is not SessionRole.WORKER:
            return
        objective_id = session.objective_id
        if end is not None and end.live_workers is not None:
            if end.notice_id is None:  # the objective is no longer active: its manager is ending too
                return
            self._wake_manager(objective_id)
            live: int | None = end.live_workers
        else:
            kind, text = team_notices.worker_ended(session.id, session.status, session.status_reason)
            live = await self._notify(objective_id, kind, text)
        if live is None or live > 0:
            return
        team = await self._db.run(lambda s: s.list_team(objective_id))
        workers = [s for s in team if s.role is SessionRole.WORKER]
        if workers and not any(str(w.status) in LIVE for w in workers):
            await self.notify(objective_id, "team_finished", await self._team_summary(objective_id, workers))

    async def _team_summary(self, objective_id: str, workers: Sequence[TeamMember]) -> str:
        counts = collections.Counter(str(w.status) for w in workers)
        outcome = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
        prs = await self._db.run(lambda s: s.list_pull_requests(objective_id=objective_id))
        pr_text = "; ".join(f"#{p.number} {p.url} ({p.state})" for p in prs) or "none"
        return (
            f"Your team has finished ({outcome}). PRs: {pr_text}. Decide what comes next, or call "
            "mark_objective_done with a summary."
        )

    async def question_asked(self, question: Question) -> None:
        if question.audience is Audience.MANAGER:
            await self.notify(
                question.objective_id,
                "question_for_manager",
                f"Question for you ({question.id}, from {question.asked_by}): {team_notices.short(question.text)}",
            )
            return
        asker = await self._asker(question)
        if asker is not None and asker.role is SessionRole.WORKER:
            await self.notify(
                question.objective_id,
                "question_asked",
                f"Worker {asker.id} asked the user ({question.id}): {team_notices.short(question.text)}",
            )

    async def question_answered(self, question: Question) -> None:
        asker = await self._asker(question)
        if asker is not None and asker.role is SessionRole.WORKER:
            await self.notify(
                question.objective_id,
                "question_answered",
                f"The user answered {question.id} (asked by {asker.id}): {team_notices.short(question.answer)}",
            )

    async def _asker(self, question: Question) -> Session | None:
        if question.asked_by is None:
            return None
        return await self._db.run(lambda s: s.get_session(question.asked_by or ""))

    async def pr_opened(self, pr: PullRequest) -> None:
        await self.notify(pr.objective_id, "pr_opened", f"Worker {pr.session_id} opened PR #{pr.number}: {pr.url}")

    async def pr_updated(self, pr: PullRequest, by: str, head: str) -> None:
        await self.notify(pr.objective_id, "pr_updated", f"PR #{pr.number} was updated by {by} (head {head[:12]})")

    async def pr_feedback(self, pr: PullRequest, items: int, follow_up: Session) -> None:
        await self.notify(
            pr.objective_id,
            "pr_feedback",
            f"PR #{pr.number} received {items} review comment(s); follow-up worker {follow_up.id} is on it",
        )
