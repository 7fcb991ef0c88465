"""The real forge: ``git`` pushes from the checkout, the ``gh`` CLI opens, reads and comments on PRs.

gh's ``--json`` output is parsed, never its prose. The gh binary is ``$ORCHA_GH`` (default ``gh``). Commands
run through an executor: pushes and ``gh pr create`` on the machine that holds the checkout, URL-addressed
calls (view, comment) on this one.
"""

from __future__ import annotations

import json
import os
from typing import Any

from orcha.executor import CommandError, Executor
from orcha.forge import ORCHA_MARK, Feedback, ForgePR, PRSnapshot
from orcha.model import PRState

PR_FIELDS = "number,url,state,headRefName,baseRefName,headRefOid,reviews,comments"
LIST_FIELDS = "number,url,state,headRefName,baseRefName,headRefOid"
_STATES = {"OPEN": PRState.OPEN, "CLOSED": PRState.CLOSED, "MERGED": PRState.MERGED}


def parse_pr(data: dict[str, Any]) -> PRSnapshot:
    """A PR snapshot from ``gh pr view --json <PR_FIELDS>``; orcha's own comments are not feedback."""
    try:
        pr = ForgePR(
            url=data["url"],
            number=int(data["number"]),
            branch=data["headRefName"],
            base=data["baseRefName"],
            state=_STATES[str(data["state"]).upper()],
            head_sha=data.get("headRefOid") or "",
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise CommandError(f"gh returned a pull request without {exc}") from exc
    feedback = []
    for review in data.get("reviews") or ():
        state, body = str(review.get("state", "")).upper(), review.get("body") or ""
        if ORCHA_MARK in body or (state != "CHANGES_REQUESTED" and not body.strip()) or state == "APPROVED":
            continue
        kind = "changes_requested" if state == "CHANGES_REQUESTED" else "review"
        feedback.append(Feedback(external_id=str(review.get("id")), kind=kind, author=_login(review), body=body))
    for comment in data.get("comments") or ():
        body = comment.get("body") or ""
        if ORCHA_MARK in body:
            continue
        feedback.append(Feedback(external_id=str(comment.get("id")), kind="comment", author=_login(comment), body=body))
    return PRSnapshot(pr=pr, feedback=tuple(feedback))


def _login(item: dict[str, Any]) -> str:
    author = item.get("author") or {}
    return str(author.get("login") or "unknown")


class GitForge:
    """Implements :class:`orcha.forge.Forge` with git and gh."""

    def __init__(self, *, local: Executor, gh: str | None = None) -> None:
        self._local = local
        self.gh = gh or os.environ.get("ORCHA_GH") or "gh"

    async def push(
        self,
        *,
        repo: str,
        branch: str,
        workdir: str | None = None,
        force: bool = False,
        executor: Executor | None = None,
    ) -> str:
        if workdir is None:
            raise CommandError("a real push needs the session's checkout (the objective has no repo)")
        runner = executor or self._local
        argv = ["git", "push", "--quiet", "origin", f"HEAD:refs/heads/{branch}"]
        if force:
            argv.insert(2, "--force-with-lease")
        (await runner.run(argv, cwd=workdir)).check()
        return (await runner.run(["git", "rev-parse", "HEAD"], cwd=workdir)).check().stdout.strip()

    async def open_pr(
        self,
        *,
        repo: str,
        branch: str,
        base: str,
        title: str,
        body: str,
        workdir: str | None = None,
        executor: Executor | None = None,
    ) -> ForgePR:
        runner = executor or self._local
        argv = [
            self.gh,
            "pr",
            "create",
            "--head",
            branch,
            "--base",
            base,
            "--title",
            title,
            "--body",
            f"{body}\n\n{ORCHA_MARK}",
        ]
        result = (await runner.run(argv, cwd=workdir)).check()
        urls = [line.strip() for line in result.stdout.splitlines() if line.strip().startswith("http")]
        if not urls:
            raise CommandError(f"gh pr create printed no URL: {result.stdout.strip()[:200]}")
        return (await self.refresh_pr(urls[-1])).pr

    async def find_open_pr(
        self,
        *,
        repo: str,
        branch: str,
        workdir: str | None = None,
        executor: Executor | None = None,
    ) -> ForgePR | None:
        runner = executor or self._local
        argv = [self.gh, "pr", "list", "--head", branch, "--state", "open", "--json", LIST_FIELDS]
        result = (await runner.run(argv, cwd=workdir)).check()
        try:
            items = json.loads(result.stdout or "[]")
        except ValueError as exc:
            raise CommandError(f"gh pr list did not return JSON: {exc}") from exc
        if not isinstance(items, list):
            raise CommandError("gh pr list did not return a list")
        for item in items:
            pr = parse_pr(item).pr
            if pr.branch == branch and pr.state is PRState.OPEN:
                return pr
        return None

    async def refresh_pr(self, url: str) -> PRSnapshot:
        result = (await self._local.run([self.gh, "pr", "view", url, "--json", PR_FIELDS])).check()
        try:
            data = json.loads(result.stdout)
        except ValueError as exc:
            raise CommandError(f"gh pr view did not return JSON: {exc}") from exc
        return parse_pr(data)

    async def comment(self, url: str, body: str) -> None:
        (await self._local.run([self.gh, "pr", "comment", url, "--body", f"{body}\n\n{ORCHA_MARK}"])).check()
