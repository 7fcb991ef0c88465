"""The default fake team: a manager that spawns two workers, workers that each open a PR, and follow-ups.

With fake agents, ``orcha serve`` runs these, so a new objective shows a living team: the manager plans,
spawns two workers, waits for them, notes the outcome and marks the objective done; each worker edits a file
and publishes a pull request; a follow-up worker (spawned for review feedback) pushes an update to its PR. A
worker whose publish or update fails says so: its turn ends failed, with the tool's reason.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from orcha.agents.contract import StartRequest
from orcha.agents.fake import AwaitTeam, Call, Complete, Edit, Say, Step, Wait
from orcha.model import SessionRole

_PR_ID = re.compile(r"\b(pr_[0-9a-f]{12})\b")


def manager_script(request: StartRequest) -> list[Step]:
    title = request.prompt.strip().splitlines()[0][:80] if request.prompt.strip() else "the objective"
    return [
        Say(f"Planning: {title}. I will split it into two independent parts."),
        Wait(1.0),
        Call("spawn_session", {"prompt": f"Part 1 of: {title}. Implement it and open a PR."}),
        Call("spawn_session", {"prompt": f"Part 2 of: {title}. Implement it and open a PR."}),
        Call("ask_user", {"question": f"For {title!r}: anything the workers should keep in mind?"}),
        AwaitTeam(poll_seconds=0.5),
        Call("create_note", {"text": f"{title!r}: {{team}}."}),
        Call("mark_objective_done", {"summary": f"{title}: {{team}}."}),
        Complete("objective done"),
    ]


def worker_script(request: StartRequest) -> list[Step]:
    part = request.session_id[-4:]
    return [
        Say("Reading the code and planning the change."),
        Wait(2.0),
        Edit(f"src/part_{part}.py", "wrote the change"),
        Wait(2.0),
        Call(
            "publish_pr",
            {"title": f"{request.prompt.splitlines()[0][:60]}", "body": "Implements the part."},
            on_error=(Complete("could not publish the PR: {error}", failed=True),),
        ),
        Complete("PR published"),
    ]


def follow_up_script(request: StartRequest, pr_id: str) -> list[Step]:
    return [
        Say(f"Addressing the review feedback on {pr_id}."),
        Wait(0.5),
        Edit("src/fix.py", "addressed the feedback"),
        Call("update_pr", {"pr": pr_id}, on_error=(Complete("could not push the update: {error}", failed=True),)),
        Call(
            "comment_pr",
            {"pr": pr_id, "body": "Addressed the review feedback."},
            on_error=(Complete("pushed the update, but could not comment: {error}", failed=True),),
        ),
        Complete("feedback addressed"),
    ]


def default_script(request: StartRequest) -> Sequence[Step]:
    """The script the fake runs for ``request``: by role, and for workers by whether a PR id is named."""
    if request.role is SessionRole.MANAGER:
        return manager_script(request)
    match = _PR_ID.search(request.prompt)
    if match:
        return follow_up_script(request, match.group(1))
    return worker_script(request)
