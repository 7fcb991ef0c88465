"""Push safety: merged never, closed asks the manager, force needs a recorded reason."""

from __future__ import annotations

import pytest

from orcha.model import PRState, PullRequest
from orcha.push import PushVerdict, evaluate_push


def _pr(state: PRState) -> PullRequest:
    return PullRequest(
        id="pr_1",
        objective_id="obj_1",
        url="https://forge/pr/7",
        number=7,
        branch="b",
        base="main",
        state=state,
        created_at=0.0,
        updated_at=0.0,
    )


@pytest.mark.parametrize("force", [False, True])
def test_a_merged_pr_is_never_pushed_to(force):
    decision = evaluate_push(_pr(PRState.MERGED), force=force, reason="because")
    assert decision.verdict is PushVerdict.REFUSE
    assert not decision.allowed
    assert "merged" in decision.explanation


@pytest.mark.parametrize("force", [False, True])
def test_a_closed_pr_asks_the_manager(force):
    decision = evaluate_push(_pr(PRState.CLOSED), force=force, reason="because")
    assert decision.verdict is PushVerdict.ASK_MANAGER
    assert not decision.allowed


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_force_without_a_reason_is_refused(reason):
    decision = evaluate_push(_pr(PRState.OPEN), force=True, reason=reason)
    assert decision.verdict is PushVerdict.REFUSE
    assert "reason" in decision.explanation
    assert decision.recorded_reason is None


def test_force_with_a_reason_is_allowed_and_the_reason_is_kept_for_the_record():
    decision = evaluate_push(_pr(PRState.OPEN), force=True, reason="  rebased onto main  ")
    assert decision.allowed
    assert decision.force
    assert decision.recorded_reason == "rebased onto main"


def test_an_ordinary_push_to_an_open_pr_is_allowed():
    decision = evaluate_push(_pr(PRState.OPEN))
    assert decision.allowed
    assert not decision.force
    assert decision.recorded_reason is None
