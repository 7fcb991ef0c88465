"""The code-host contract (push, open, refresh, comment) and an in-memory fake faithful to its semantics."""

from __future__ import annotations

import hashlib
import itertools
from typing import Protocol

import attrs

from orcha.errors import ConflictError, NotFoundError
from orcha.executor import Executor
from orcha.model import PRState


@attrs.frozen(kw_only=True)
class ForgePR:
    url: str
    number: int
    branch: str
    base: str
    state: PRState
    head_sha: str


@attrs.frozen(kw_only=True)
class Feedback:
    """A review comment or a review; ``external_id`` is stable on the forge (dedup key)."""

    external_id: str
    kind: str
    author: str
    body: str


@attrs.frozen(kw_only=True)
class PRSnapshot:
    pr: ForgePR
    feedback: tuple[Feedback, ...] = ()


ORCHA_MARK = "<!-- posted by orcha -->"
"""Appended to what orcha posts, so its own comments are never mistaken for review feedback."""


class Forge(Protocol):
    """A code host. ``workdir``/``executor`` name the checkout (and the machine) a push or PR comes from."""

    async def push(
        self,
        *,
        repo: str,
        branch: str,
        workdir: str | None = None,
        force: bool = False,
        executor: Executor | None = None,
    ) -> str:
        """Push the checkout's HEAD to ``branch`` of ``repo`` and return the new head sha."""

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
        """Open a pull request of ``branch`` into ``base``."""

    async def refresh_pr(self, url: str) -> PRSnapshot:
        """The PR's state and head now, with all its review feedback."""

    async def comment(self, url: str, body: str) -> None:
        """Comment on the PR."""


@attrs.define
class _FakePR:
    pr: ForgePR
    repo: str
    title: str
    body: str
    feedback: list[Feedback] = attrs.Factory(list)
    comments: list[str] = attrs.Factory(list)


class FakeForge:
    """An in-memory forge. Pushes make new head shas; tests add reviews, merge and close PRs."""

    def __init__(self, base_url: str = "https://forge.example") -> None:
        self.base_url = base_url
        self._numbers = itertools.count(1)
        self._prs: dict[str, _FakePR] = {}
        self._heads: dict[tuple[str, str], str] = {}
        self.pushes: list[tuple[str, str, bool]] = []

    async def push(
        self,
        *,
        repo: str,
        branch: str,
        workdir: str | None = None,
        force: bool = False,
        executor: Executor | None = None,
    ) -> str:
        previous = self._heads.get((repo, branch), "")
        sha = hashlib.sha1(f"{repo}:{branch}:{previous}:{len(self.pushes)}".encode()).hexdigest()
        self._heads[(repo, branch)] = sha
        self.pushes.append((repo, branch, force))
        for entry in self._prs.values():
            if entry.repo == repo and entry.pr.branch == branch:
                if entry.pr.state is PRState.MERGED:
                    raise ConflictError(f"{entry.pr.url} is merged; the forge refuses the push")
                entry.pr = attrs.evolve(entry.pr, head_sha=sha)
        return sha

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
        head = self._heads.get((repo, branch))
        if head is None:
            raise ConflictError(f"branch {branch!r} was never pushed to {repo}")
        number = next(self._numbers)
        pr = ForgePR(
            url=f"{self.base_url}/{repo}/pull/{number}",
            number=number,
            branch=branch,
            base=base,
            state=PRState.OPEN,
            head_sha=head,
        )
        self._prs[pr.url] = _FakePR(pr=pr, repo=repo, title=title, body=body)
        return pr

    async def refresh_pr(self, url: str) -> PRSnapshot:
        entry = self._entry(url)
        return PRSnapshot(pr=entry.pr, feedback=tuple(entry.feedback))

    async def comment(self, url: str, body: str) -> None:
        self._entry(url).comments.append(body)

    # --- what a reviewer or the forge does, for tests and demos ---

    def add_feedback(self, url: str, *, author: str, body: str, kind: str = "comment") -> Feedback:
        entry = self._entry(url)
        feedback = Feedback(external_id=f"c{len(entry.feedback) + 1}", kind=kind, author=author, body=body)
        entry.feedback.append(feedback)
        return feedback

    def set_state(self, url: str, state: PRState) -> None:
        entry = self._entry(url)
        entry.pr = attrs.evolve(entry.pr, state=state)

    def comments_on(self, url: str) -> list[str]:
        return list(self._entry(url).comments)

    def prs(self) -> list[ForgePR]:
        return [entry.pr for entry in self._prs.values()]

    def _entry(self, url: str) -> _FakePR:
        try:
            return self._prs[url]
        except KeyError:
            raise NotFoundError("pull request", url) from None
