"""The PR workflow: publish, update (with push safety and one updater per branch), comment, refresh."""

from __future__ import annotations

import collections
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Literal, TypeVar

import attrs
import trio

from orcha.actors.deps import Announce, Executors, Questions
from orcha.actors.messages import Spawn
from orcha.actors.team_news import TeamNews
from orcha.actors.workspaces import WorkspaceManager
from orcha.errors import ConflictError, InvalidInputError, LockHeldError, OrchaError, PushRefusedError
from orcha.executor import CommandError, Executor
from orcha.forge import Forge, ForgePR, PRSnapshot
from orcha.model import (
    Audience,
    LockKind,
    ObjectiveStatus,
    PRState,
    PullRequest,
    Session,
    SessionRole,
    WorkspaceKind,
)
from orcha.ports import Db, call
from orcha.push import PushVerdict, evaluate_push
from orcha.store_port import StorePort

log = logging.getLogger(__name__)
T = TypeVar("T")


def branch_lock_key(repo: str, branch: str) -> str:
    return f"{repo}#{branch}"


@attrs.frozen(kw_only=True)
class Published:
    """What a publish did: ``opened`` a new PR, ``adopted`` one already open at the forge for the branch, or
    found the branch's PR ``existing`` in orcha (then it pushed what was new to it)."""

    pr: PullRequest
    how: Literal["opened", "adopted", "existing"]


async def _step(what: str, work: Awaitable[T]) -> T:
    """Run one git/gh step of a publish or an update; its failure names the step and keeps git's words."""
    try:
        return await work
    except CommandError as exc:
        raise CommandError(f"{what} failed: {exc}") from exc


class PullRequestWorkflow:
    """Publishes, updates and comments on PRs, and turns review feedback into follow-up workers."""

    def __init__(
        self,
        db: Db,
        forge: Forge,
        executors: Executors,
        workspaces: WorkspaceManager,
        *,
        news: TeamNews,
        questions: Questions,
        announce: Announce,
        spawn: Callable[[str, Spawn], Awaitable[Session]],
        default_repo: str,
    ) -> None:
        self._db = db
        self._forge = forge
        self._executors = executors
        self._workspaces = workspaces
        self._news = news
        self._questions = questions
        self._announce = announce
        self._spawn = spawn
        self._default_repo = default_repo
        self._local_locks: dict[str, trio.Lock] = {}
        self._lock_users: collections.Counter[str] = collections.Counter()

    async def _repo_and_base(self, objective_id: str) -> tuple[str, str]:
        objective = await self._db.run(lambda s: s.get_objective(objective_id))
        return objective.repo or self._default_repo, objective.base_branch or "main"

    async def _pr_in_objective(self, pr_id: str, objective_id: str) -> PullRequest:
        pr = await self._db.run(lambda s: s.get_pull_request(pr_id))
        if pr.objective_id != objective_id:
            raise InvalidInputError(f"pull request {pr_id} is not in objective {objective_id}", field="pr")
        return pr

    async def _checkout(self, session: Session) -> tuple[str | None, str | None, Executor | None]:
        """(branch, path, executor) of the session's prepared checkout, or Nones when it has none."""
        if session.workspace_id is None:
            return None, None, None
        workspace = await self._db.run(lambda s: s.get_workspace(session.workspace_id or ""))
        if workspace.path is None or workspace.target_id is None:
            return workspace.branch, None, None
        target = await self._db.run(lambda s: s.get_target(workspace.target_id or ""))
        return workspace.branch, workspace.path, self._executors.for_target(target)

    async def publish(self, session_id: str, *, title: str, body: str, actor: str | None = None) -> Published:
        """Commit what is left, push the session's branch and open its PR, all under the branch's lock.

        One branch has one PR: a publish of a branch whose PR orcha already records pushes to it and returns
        it; a PR already open at the forge for the branch is adopted. ``actor`` is the session doing it (a
        manager may publish a worker's branch). A failed step raises, naming the step; nothing is recorded.
        """
        if not title.strip():
            raise InvalidInputError("a pull request needs a title", field="title")
        session = await self._db.run(lambda s: s.get_session(session_id))
        repo, base = await self._repo_and_base(session.objective_id)
        checkout_branch, path, executor = await self._checkout(session)
        branch = checkout_branch or f"orcha/{session.id}"
        async with self._branch_lock(branch_lock_key(repo, branch), actor or session_id):
            stored = await self._stored_pr(session.objective_id, branch)
            if stored is not None:
                now, _ = await _step(f"reading PR #{stored.number} at the forge", self._sync(stored))
                if now.state is not PRState.OPEN:
                    raise ConflictError(
                        f"branch {branch} already had PR #{now.number} ({now.url}), now {now.state}; "
                        "use update_pr, or ask the manager"
                    )
                stored = now
            if path is not None and executor is not None:
                await _step(
                    "commit (of the changes left in the checkout)",
                    self._workspaces.commit_pending(executor, path, title),
                )
            found: ForgePR | None = None
            if stored is None:
                found = await _step(
                    f"looking for an open PR of {branch}",
                    self._forge.find_open_pr(repo=repo, branch=branch, workdir=path, executor=executor),
                )
            sha = await _step(
                f"push of {branch}",
                self._forge.push(repo=repo, branch=branch, workdir=path, executor=executor),
            )
            if stored is not None:
                known = stored
                pr = await self._db.run(lambda s: s.update_pull_request(known.id, head_sha=sha))
                if sha != known.head_sha:
                    self._announce("pr", pr.id)
                    await self._news.pr_updated(pr, actor or session_id, sha)
                return Published(pr=pr, how="existing")
            how: Literal["opened", "adopted"] = "adopted" if found is not None else "opened"
            opened = found or await self._open(repo, branch, base, title, body, path, executor)
            pr = await self._db.run(
                lambda s: s.create_pull_request(
                    objective_id=session.objective_id,
                    session_id=session_id,
                    url=opened.url,
                    number=opened.number,
                    branch=branch,
                    base=opened.base or base,
                    title=title,
                    head_sha=sha or opened.head_sha,
                )
            )
        self._announce("pr", pr.id)
        await self._news.pr_opened(pr)
        return Published(pr=pr, how=how)

    async def _stored_pr(self, objective_id: str, branch: str) -> PullRequest | None:
        """The branch's PR as orcha records it: the open one if any, else the latest."""
        prs = await self._db.run(lambda s: s.list_pull_requests(objective_id=objective_id))
        mine = [pr for pr in prs if pr.branch == branch]
        return next((pr for pr in mine if pr.state is PRState.OPEN), mine[-1] if mine else None)

    async def _open(
        self, repo: str, branch: str, base: str, title: str, body: str, path: str | None, executor: Executor | None
    ) -> ForgePR:
        """Open the PR; when the forge refuses because one is open for the branch now (opened elsewhere
        meanwhile), adopt that one."""
        try:
            return await self._forge.open_pr(
                repo=repo, branch=branch, base=base, title=title, body=body, workdir=path, executor=executor
            )
        except OrchaError as exc:
            with contextlib.suppress(OrchaError):
                found = await self._forge.find_open_pr(repo=repo, branch=branch, workdir=path, executor=executor)
                if found is not None:
                    return found
            raise CommandError(f"opening the PR of {branch} failed: {exc}") from exc

    async def update(self, session_id: str, pr_id: str, *, force: bool = False, reason: str | None = None) -> str:
        """Push to a PR's branch if push safety allows; a closed PR asks the manager instead."""
        session = await self._db.run(lambda s: s.get_session(session_id))
        pr = await self._pr_in_objective(pr_id, session.objective_id)
        pr, _ = await self._sync(pr)
        decision = evaluate_push(pr, force=force, reason=reason)
        if decision.verdict is PushVerdict.REFUSE:
            await self._db.run(
                lambda s: s.record_event(
                    "push_refused",
                    objective_id=pr.objective_id,
                    session_id=session_id,
                    pr_id=pr.id,
                    force=force,
                    why=decision.explanation,
                )
            )
            raise PushRefusedError(decision.explanation)
        if decision.verdict is PushVerdict.ASK_MANAGER:
            question = await self._questions.ask(
                pr.objective_id,
                session_id,
                f"PR #{pr.number} ({pr.url}) is closed. Reopen it, or open a new PR from branch {pr.branch}?",
                Audience.MANAGER,
            )
            return f"{decision.explanation}; asked the manager (question {question.id})"
        repo, _ = await self._repo_and_base(pr.objective_id)
        _, path, executor = await self._checkout(session)
        async with self._branch_lock(branch_lock_key(repo, pr.branch), session_id):
            if path is not None and executor is not None:
                await _step(
                    "commit (of the changes left in the checkout)",
                    self._workspaces.commit_pending(executor, path, f"Update PR #{pr.number}"),
                )
            sha = await _step(
                f"push of {pr.branch}",
                self._forge.push(repo=repo, branch=pr.branch, workdir=path, force=decision.force, executor=executor),
            )
        await self._db.run(lambda s: s.update_pull_request(pr.id, head_sha=sha))
        await self._db.run(
            lambda s: s.record_event(
                "pr_pushed",
                objective_id=pr.objective_id,
                session_id=session_id,
                pr_id=pr.id,
                head_sha=sha,
                force=decision.force,
                reason=decision.recorded_reason,
            )
        )
        self._announce("pr", pr.id)
        await self._news.pr_updated(pr, session_id, sha)
        return f"pushed {sha[:12]} to {pr.branch} (PR #{pr.number})"

    async def comment(self, session_id: str, pr_id: str, body: str) -> None:
        if not body.strip():
            raise InvalidInputError("a comment needs a body", field="body")
        session = await self._db.run(lambda s: s.get_session(session_id))
        pr = await self._pr_in_objective(pr_id, session.objective_id)
        await _step(f"commenting on PR #{pr.number}", self._forge.comment(pr.url, body))
        await self._db.run(
            lambda s: s.record_event("pr_commented", objective_id=pr.objective_id, session_id=session_id, pr_id=pr.id)
        )

    async def _sync(self, pr: PullRequest) -> tuple[PullRequest, PRSnapshot]:
        """Record what the forge says of the PR now; returns the stored PR and the forge's snapshot."""
        snapshot = await self._forge.refresh_pr(pr.url)  # no transaction is open here
        stored = await self._db.run(
            lambda s: s.update_pull_request(pr.id, state=snapshot.pr.state, head_sha=snapshot.pr.head_sha)
        )
        return stored, snapshot

    async def refresh(self, pr_id: str) -> int:
        """Sync a PR and spawn one follow-up for its feedback not yet handled. Returns sessions spawned."""
        pr, snapshot = await self._sync(await self._db.run(lambda s: s.get_pull_request(pr_id)))
        for item in snapshot.feedback:
            await self._db.run(
                call(
                    StorePort.add_pr_feedback,
                    pr_id=pr.id,
                    external_id=item.external_id,
                    kind=item.kind,
                    author=item.author,
                    body=item.body,
                )
            )
        pending = [f for f in await self._db.run(lambda s: s.list_pr_feedback(pr.id)) if not f.follow_up_session_id]
        if not pending or pr.state is not PRState.OPEN:
            return 0
        objective = await self._db.run(lambda s: s.get_objective(pr.objective_id))
        if objective.status is not ObjectiveStatus.ACTIVE:
            return 0
        agent = objective.agent
        if pr.session_id is not None:
            agent = (await self._db.run(lambda s: s.get_session(pr.session_id or ""))).agent
        comments = "\n".join(f"- {f.author} ({f.kind}): {f.body}" for f in pending)
        prompt = f"Address the review feedback on PR #{pr.number} ({pr.id}, branch {pr.branch}):\n{comments}"
        session = await self._spawn(
            pr.objective_id,
            Spawn(
                prompt=prompt,
                agent=agent,
                role=SessionRole.WORKER,
                parent_session_id=pr.session_id,
                workspace_kind=WorkspaceKind.PR_BRANCH,
                pr_id=pr.id,
            ),
        )
        for f in pending:
            await self._db.run(call(StorePort.set_feedback_follow_up, f.id, session.id))
        await self._news.pr_feedback(pr, len(pending), session)
        log.info("PR %s: %d new feedback item(s), follow-up %s", pr.url, len(pending), session.id)
        return 1

    @contextlib.asynccontextmanager
    async def _branch_lock(self, key: str, owner: str) -> AsyncIterator[None]:
        """One publish or update of a branch at a time: a trio lock in this process (the store's lock
        re-admits its owner, so it alone would let one session's parallel calls through), the store's lock
        across processes and sessions."""
        lock = self._local_locks.setdefault(key, trio.Lock())
        self._lock_users[key] += 1
        try:
            async with lock, _BranchLock(self._db, key, owner):
                yield
        finally:
            self._lock_users[key] -= 1
            if self._lock_users[key] <= 0:
                del self._lock_users[key]
                self._local_locks.pop(key, None)


class _BranchLock:
    """Hold the one-updater lock on a PR branch for the duration of a push."""

    def __init__(self, db: Db, key: str, owner: str) -> None:
        self._db, self._key, self._owner = db, key, owner

    async def __aenter__(self) -> None:
        if not await self._db.run(lambda s: s.acquire_lock(LockKind.PR_BRANCH, self._key, self._owner)):
            holder = await self._db.run(lambda s: s.lock_holder(LockKind.PR_BRANCH, self._key))
            raise LockHeldError(LockKind.PR_BRANCH, self._key, holder or "someone")

    async def __aexit__(self, *exc_info: object) -> None:
        with trio.CancelScope(shield=True):
            held = await self._db.run(lambda s: s.lock_holder(LockKind.PR_BRANCH, self._key))
            if held == self._owner:
                await self._db.run(lambda s: s.release_lock(LockKind.PR_BRANCH, self._key, self._owner))
