"""The code-host contract (push, open, refresh, comment) and an in-memory fake faithful to its semantics."""

from __future__ import annotations

import hashlib
import itertools
from typing import Any, Protocol

import attrs
import trio

from orcha.errors import ConflictError, NotFoundError
from orcha.executor import CommandError, Executor
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

    async def find_open_pr(
        self,
        *,
        repo: str,
        branch: str,
        workdir: str | None = None,
        executor: Executor | None = None,
    ) -> ForgePR | None:
        """The open pull request of ``branch`` in ``repo``, if there is one (a publish adopts it, never opens a
        second)."""

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


def _pr_data(entry: _FakePR) -> dict[str, Any]:
    pr = entry.pr
    return {
        "url": pr.url,
        "number": pr.number,
        "branch": pr.branch,
        "base": pr.base,
        "state": pr.state.value,
        "head_sha": pr.head_sha,
        "repo": entry.repo,
        "title": entry.title,
        "body": entry.body,
        "feedback": [attrs.asdict(f) for f in entry.feedback],
        "comments": list(entry.comments),
    }


def _pr_of(data: dict[str, Any]) -> _FakePR:
    pr = ForgePR(
        url=data["url"],
        number=int(data["number"]),
        branch=data["branch"],
        base=data["base"],
        state=PRState(data["state"]),
        head_sha=data["head_sha"],
    )
    return _FakePR(
        pr=pr,
        repo=data["repo"],
        title=data["title"],
        body=data["body"],
        feedback=[Feedback(**f) for f in data["feedback"]],
        comments=list(data["comments"]),
    )


class FakeForgeState(Protocol):
    """Where a :class:`FakeForge` keeps its pull requests across restarts (the store does; the default: nowhere).

    Each call is one short synchronous transaction; ``data`` is JSON-able, the PR's ``url`` among it.
    """

    def fake_forge_prs(self) -> list[dict[str, Any]]: ...

    def save_fake_forge_pr(self, url: str, data: dict[str, Any]) -> None: ...


FORGE_OPERATIONS = ("push", "open_pr", "find_open_pr", "refresh_pr", "comment")


class FakeForge:
    """An in-memory forge. Pushes make new head shas; tests add reviews, merge and close PRs.

    Like a real code host it takes time (``latency`` seconds per call, and a checkpoint always), refuses a
    second open PR for a branch, and can be made to fail (:meth:`fail`), as a forge without ``gh`` does.
    With a ``state`` (the store) its pull requests are durable: a new fake on the same state finds them.
    """

    def __init__(
        self, base_url: str = "https://forge.example", *, latency: float = 0.0, state: FakeForgeState | None = None
    ) -> None:
        self.base_url = base_url
        self.latency = latency
        self._state = state
        self._prs: dict[str, _FakePR] = {}
        self._heads: dict[tuple[str, str], str] = {}
        self._failures: dict[str, str] = {}
        self.pushes: list[tuple[str, str, bool]] = []
        for data in state.fake_forge_prs() if state is not None else ():
            entry = _pr_of(data)
            self._prs[entry.pr.url] = entry
        for entry in sorted(self._prs.values(), key=lambda e: e.pr.number):
            self._heads[(entry.repo, entry.pr.branch)] = entry.pr.head_sha  # a branch's head is its latest PR's
        self._numbers = itertools.count(max((e.pr.number for e in self._prs.values()), default=0) + 1)

    def _save(self, entry: _FakePR) -> None:
        if self._state is not None:
            self._state.save_fake_forge_pr(entry.pr.url, _pr_data(entry))

    async def _call(self, operation: str) -> None:
        """A forge call takes time, and fails as configured."""
        if self.latency > 0:
            await trio.sleep(self.latency)
        else:
            await trio.lowlevel.checkpoint()
        message = self._failures.get(operation)
        if message is not None:
            raise CommandError(message)

    async def push(
        self,
        *,
        repo: str,
        branch: str,
        workdir: str | None = None,
        force: bool = False,
        executor: Executor | None = None,
    ) -> str:
        await self._call("push")
        previous = self._heads.get((repo, branch), "")
        sha = hashlib.sha1(f"{repo}:{branch}:{previous}:{len(self.pushes)}".encode()).hexdigest()
        self._heads[(repo, branch)] = sha
        self.pushes.append((repo, branch, force))
        for entry in self._prs.values():
            if entry.repo == repo and entry.pr.branch == branch:
                if entry.pr.state is PRState.MERGED:
                    raise ConflictError(f"{entry.pr.url} is merged; the forge refuses the push")
                entry.pr = attrs.evolve(entry.pr, head_sha=sha)
                self._save(entry)
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
        await self._call("open_pr")
        head = self._heads.get((repo, branch))
        if head is None:
            raise ConflictError(f"branch {branch!r} was never pushed to {repo}")
        existing = self._open_pr_of(repo, branch)
        if existing is not None:
            raise CommandError(f"a pull request for branch {branch!r} already exists: {existing.url}")
        return self._new_pr(repo=repo, branch=branch, base=base, title=title, body=body, head=head)

    async def find_open_pr(
        self,
        *,
        repo: str,
        branch: str,
        workdir: str | None = None,
        executor: Executor | None = None,
    ) -> ForgePR | None:
        await self._call("find_open_pr")
        return self._open_pr_of(repo, branch)

    async def refresh_pr(self, url: str) -> PRSnapshot:
        await self._call("refresh_pr")
        entry = self._entry(url)
        return PRSnapshot(pr=entry.pr, feedback=tuple(entry.feedback))

    async def comment(self, url: str, body: str) -> None:
        await self._call("comment")
        entry = self._entry(url)
        entry.comments.append(body)
        self._save(entry)

    def _open_pr_of(self, repo: str, branch: str) -> ForgePR | None:
        for entry in self._prs.values():
            if entry.repo == repo and entry.pr.branch == branch and entry.pr.state is PRState.OPEN:
                return entry.pr
        return None

    # --- what a reviewer or the forge does, for tests and demos ---

    def fail(self, operation: str, message: str | None) -> None:
        """Make every ``operation`` (one of :data:`FORGE_OPERATIONS`) fail with ``message``; ``None`` heals it."""
        if operation not in FORGE_OPERATIONS:
            raise ValueError(f"no forge operation {operation!r}; one of {', '.join(FORGE_OPERATIONS)}")
        if message is None:
            self._failures.pop(operation, None)
        else:
            self._failures[operation] = message

    def open_directly(self, *, repo: str, branch: str, base: str = "main", title: str = "opened by hand") -> ForgePR:
        """Someone opens a PR at the forge, outside orcha (the branch is taken as pushed)."""
        head = self._heads.setdefault((repo, branch), hashlib.sha1(f"{repo}:{branch}:by-hand".encode()).hexdigest())
        return self._new_pr(repo=repo, branch=branch, base=base, title=title, body="", head=head)

    def _new_pr(self, *, repo: str, branch: str, base: str, title: str, body: str, head: str) -> ForgePR:
        number = next(self._numbers)
        pr = ForgePR(
            url=f"{self.base_url}/{repo}/pull/{number}",
            number=number,
            branch=branch,
            base=base,
            state=PRState.OPEN,
            head_sha=head,
        )
        entry = self._prs[pr.url] = _FakePR(pr=pr, repo=repo, title=title, body=body)
        self._save(entry)
        return pr

    def add_feedback(self, url: str, *, author: str, body: str, kind: str = "comment") -> Feedback:
        entry = self._entry(url)
        feedback = Feedback(external_id=f"c{len(entry.feedback) + 1}", kind=kind, author=author, body=body)
        entry.feedback.append(feedback)
        self._save(entry)
        return feedback

    def set_state(self, url: str, state: PRState) -> None:
        entry = self._entry(url)
        entry.pr = attrs.evolve(entry.pr, state=state)
        self._save(entry)

    def comments_on(self, url: str) -> list[str]:
        return list(self._entry(url).comments)

    def prs(self) -> list[ForgePR]:
        return [entry.pr for entry in self._prs.values()]

    def _entry(self, url: str) -> _FakePR:
        try:
            return self._prs[url]
        except KeyError:
            raise NotFoundError("pull request", url) from None
