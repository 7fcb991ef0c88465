"""Push safety: may a change be pushed to a pull request's branch?

A pure decision, taken before any git command runs: a merged PR is never pushed to, a closed PR needs a
decision from the objective's manager, and a force push needs a reason that is then recorded.
"""

from __future__ import annotations

import enum

import attrs

from orcha.model import PRState, PullRequest


class PushVerdict(enum.StrEnum):
    ALLOW = "allow"
    REFUSE = "refuse"
    ASK_MANAGER = "ask_manager"


@attrs.frozen(kw_only=True)
class PushDecision:
    """The outcome of :func:`evaluate_push`.

    ``explanation`` says why, in words fit for a manager or a log; ``recorded_reason`` is the force-push
    reason that must be written to the audit events (``None`` for an ordinary push).
    """

    verdict: PushVerdict
    explanation: str
    force: bool = False
    recorded_reason: str | None = None

    @property
    def allowed(self) -> bool:
        return self.verdict is PushVerdict.ALLOW


def evaluate_push(pr: PullRequest, *, force: bool = False, reason: str | None = None) -> PushDecision:
    """Decide whether a push (``force`` or not) to ``pr``'s branch may go ahead."""
    if pr.state is PRState.MERGED:
        return PushDecision(
            verdict=PushVerdict.REFUSE,
            explanation=f"PR #{pr.number} is merged: its branch is never pushed to again; open a new PR",
            force=force,
        )
    if pr.state is PRState.CLOSED:
        return PushDecision(
            verdict=PushVerdict.ASK_MANAGER,
            explanation=f"PR #{pr.number} is closed: the manager must decide whether to reopen it or open a new one",
            force=force,
        )
    cleaned = (reason or "").strip()
    if force and not cleaned:
        return PushDecision(
            verdict=PushVerdict.REFUSE,
            explanation="a force push needs a reason (pass force=true with reason=...); it is recorded",
            force=True,
        )
    if force:
        return PushDecision(
            verdict=PushVerdict.ALLOW,
            explanation=f"force push to PR #{pr.number} allowed: {cleaned}",
            force=True,
            recorded_reason=cleaned,
        )
    return PushDecision(verdict=PushVerdict.ALLOW, explanation=f"push to PR #{pr.number} allowed")
