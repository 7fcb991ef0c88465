"""Workspaces: fresh checkouts prepared on the session's target, through that target's executor.

Each target keeps a bare mirror of every repo (cloned once, fetched to refresh) for speed and locality, but
every checkout clones from the real origin (borrowing the mirror's objects) and branches off the base as the
origin has it now: never a stale local copy. Paths derive from ids, never from user text.

- isolated:       a new branch ``orcha/<session id>`` off ``origin/<base>``
- shared_scratch: one checkout per objective and repo, shared (one writer at a time: the workspace lock)
- pr_branch:      the PR's branch at its fresh head, for follow-ups
"""

from __future__ import annotations

import hashlib
import re

import trio

from orcha.actors.deps import Executors
from orcha.errors import InvalidInputError
from orcha.executor import CommandError, Executor, copier
from orcha.model import Session, Target, TargetKind, Workspace, WorkspaceKind
from orcha.ports import Db

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
_BRANCH = re.compile(r"^(?!-)(?!.*\.\.)[A-Za-z0-9._/-]{1,200}$")


def repo_key(repo: str) -> str:
    """A directory name for a repo's mirror: readable, and unique by a hash of the whole URL."""
    base = _SAFE.sub("-", repo.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git"))[:40] or "repo"
    return f"{base}-{hashlib.sha256(repo.encode()).hexdigest()[:12]}"


def check_relative_path(path: str, field: str = "path") -> str:
    """A path an agent gives inside its checkout: relative, without ``..``, NUL or line breaks."""
    if not isinstance(path, str) or not path.strip() or any(c in path for c in "\0\n\r"):
        raise InvalidInputError("path must name a file in your checkout", field=field)
    if path.startswith("/") or ".." in path.split("/"):
        raise InvalidInputError("path must be relative to your checkout, without '..'", field=field)
    return path


async def _real_path(executor: Executor, path: str) -> str | None:
    """``path`` with every link resolved, on the executor's machine; ``None`` when it does not exist."""
    result = await executor.run(["realpath", "-e", "--", path])
    return result.stdout.removesuffix("\n") if result.ok and result.stdout.strip() else None


def check_branch(name: str, field: str = "base_branch") -> str:
    if not _BRANCH.match(name):
        raise InvalidInputError(f"{name!r} is not a branch name orcha will use", field=field)
    return name


REPO_CHECK_SECONDS = 10.0


class WorkspaceManager:
    """Prepares sessions' checkouts on their targets, cleans them up per policy, and copies artifacts out."""

    def __init__(self, db: Db, executors: Executors, *, cleanup: str = "keep", artifacts_root: str) -> None:
        self._db = db
        self._executors = executors
        self._cleanup = cleanup
        self._artifacts_root = artifacts_root
        self._mirror_locks: dict[tuple[str, str], trio.Lock] = {}

    def paths(self, target: Target, workspace: Workspace) -> tuple[str, str]:
        """(mirror, checkout) paths on ``target`` for ``workspace``."""
        root = target.work_root.rstrip("/")
        return f"{root}/mirrors/{repo_key(workspace.repo or '')}.git", f"{root}/workspaces/{workspace.id}"

    async def check_repo(self, repo: str, base_branch: str) -> None:
        """The objective's repository answers and has its base branch, asked (``git ls-remote``, at most
        ``REPO_CHECK_SECONDS``) from the machine where checkouts are made; a clear InvalidInputError if not."""
        if not repo.strip() or repo.startswith("-") or any(c in repo for c in "\0\n\r"):
            raise InvalidInputError(f"{repo[:200]!r} is not a repository orcha can clone", field="repo")
        targets = await self._db.run(lambda s: s.list_targets())
        target = next((t for t in targets if t.kind is TargetKind.LOCAL), targets[0] if targets else None)
        if target is None:
            return  # no machine to ask from yet; the checkout will say
        executor = self._executors.for_target(target)
        result = None
        with trio.move_on_after(REPO_CHECK_SECONDS):
            result = await executor.run(
                ["git", "ls-remote", "--heads", repo], env={"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true"}
            )
        if result is None:
            raise InvalidInputError(f"{repo} did not answer within {REPO_CHECK_SECONDS:.0f} s", field="repo")
        if not result.ok:
            why = " ".join(result.stderr.strip().splitlines()[-2:])[-300:] or f"git ls-remote exited {result.exit_code}"
            raise InvalidInputError(f"cannot reach the repository {repo}: {why}", field="repo")
        heads = {line.split("refs/heads/", 1)[-1] for line in result.stdout.splitlines() if "refs/heads/" in line}
        if heads and base_branch not in heads:
            shown = ", ".join(sorted(heads)[:5])
            raise InvalidInputError(
                f"{repo} has no branch {base_branch!r} (it has: {shown}); pass base_branch", field="base_branch"
            )

    async def prepare(self, session: Session) -> Workspace | None:
        """Make the session's checkout ready on its target; ``None`` for sessions without a workspace."""
        if session.workspace_id is None:
            return None
        workspace = await self._db.run(lambda s: s.get_workspace(session.workspace_id or ""))
        if session.target_id is None:
            raise CommandError(f"session {session.id} has no target to prepare its workspace on")
        target = await self._db.run(lambda s: s.get_target(session.target_id or ""))
        executor = self._executors.for_target(target)
        mirror, path = self.paths(target, workspace)
        branch = self._branch_of(session, workspace)
        if workspace.repo is None:
            (await executor.run(["mkdir", "-p", path])).check()
        elif workspace.path == path and await self._exists(executor, path):
            if workspace.kind is not WorkspaceKind.ISOLATED:
                (await executor.run(["git", "fetch", "--quiet", "origin"], cwd=path)).check()
        else:
            await self._refresh_mirror(executor, target, workspace.repo, mirror)
            await self._clone(executor, workspace, mirror, path, branch)
        return await self._db.run(
            lambda s: s.place_workspace(workspace.id, target_id=target.id, path=path, branch=branch)
        )

    def _branch_of(self, session: Session, workspace: Workspace) -> str:
        if workspace.kind is WorkspaceKind.ISOLATED:
            return workspace.branch or f"orcha/{session.id}"
        if workspace.kind is WorkspaceKind.PR_BRANCH:
            if not workspace.branch:
                raise CommandError(f"workspace {workspace.id} is for a PR branch but names none")
            return workspace.branch
        return workspace.branch or f"orcha/scratch-{workspace.objective_id}"

    async def _exists(self, executor: Executor, path: str) -> bool:
        return (await executor.run(["test", "-d", path])).ok

    async def _refresh_mirror(self, executor: Executor, target: Target, repo: str, mirror: str) -> None:
        lock = self._mirror_locks.setdefault((target.id, mirror), trio.Lock())
        async with lock:  # one fetch per mirror at a time
            if await self._exists(executor, mirror):
                (await executor.run(["git", "fetch", "--quiet", "--prune", "origin"], cwd=mirror)).check()
            else:
                (await executor.run(["mkdir", "-p", mirror.rsplit("/", 1)[0]])).check()
                (await executor.run(["git", "clone", "--quiet", "--mirror", "--", repo, mirror])).check()

    async def _clone(self, executor: Executor, workspace: Workspace, mirror: str, path: str, branch: str) -> None:
        assert workspace.repo is not None
        await executor.run(["rm", "-rf", path])  # a half-made checkout from a crash is not reused
        (await executor.run(["mkdir", "-p", path.rsplit("/", 1)[0]])).check()
        (
            await executor.run(["git", "clone", "--quiet", "--reference-if-able", mirror, "--", workspace.repo, path])
        ).check()
        for key, value in (("user.name", "orcha"), ("user.email", "orcha@localhost")):
            (await executor.run(["git", "config", key, value], cwd=path)).check()
        start = (
            f"origin/{branch}"
            if workspace.kind is WorkspaceKind.PR_BRANCH
            else f"origin/{workspace.base_branch or 'main'}"
        )
        result = await executor.run(["git", "checkout", "--quiet", "-B", branch, start], cwd=path)
        if not result.ok:
            raise CommandError(f"cannot start branch {branch} at {start}: {result.stderr.strip()[-300:]}")

    async def release(self, session: Session) -> None:
        """With the ``remove`` policy, delete an ended session's own checkout (isolated or PR branch)."""
        if self._cleanup != "remove" or session.workspace_id is None:
            return
        workspace = await self._db.run(lambda s: s.get_workspace(session.workspace_id or ""))
        if workspace.kind is WorkspaceKind.SHARED_SCRATCH or workspace.path is None or workspace.target_id is None:
            return
        target = await self._db.run(lambda s: s.get_target(workspace.target_id or ""))
        (await self._executors.for_target(target).run(["rm", "-rf", workspace.path])).check()
        await self._db.run(lambda s: s.forget_workspace_path(workspace.id, reason="session ended"))

    async def save_artifact(self, session: Session, relative_path: str) -> str:
        """Copy a file of the session's checkout to its private artifacts folder; returns the copy's path.

        The path is resolved on the target (links included) and must stay inside the checkout and name a
        regular file there; the resolved file is copied, never a link (``cp -P``).
        """
        check_relative_path(relative_path)
        if session.workspace_id is None:
            raise InvalidInputError("this session has no checkout to take a file from", field="path")
        workspace = await self._db.run(lambda s: s.get_workspace(session.workspace_id or ""))
        if workspace.path is None or workspace.target_id is None:
            raise InvalidInputError("this session's checkout is not prepared", field="path")
        target = await self._db.run(lambda s: s.get_target(workspace.target_id or ""))
        executor = self._executors.for_target(target)
        source = await self._contained_file(executor, workspace.path, relative_path)
        name = _SAFE.sub("-", relative_path.rstrip("/").rsplit("/", 1)[-1])[:100] or "artifact"
        folder = f"{self._artifacts_root.rstrip('/')}/{session.objective_id}/{session.id}"
        remote = copier(executor)
        if remote is not None:  # on an SSH target: copied back to this machine, where the artifacts live
            await remote.copy_out(source, f"{folder}/{name}")
            return f"{folder}/{name}"
        await executor.make_private_dir(folder)
        (await executor.run(["cp", "-P", "--", source, f"{folder}/{name}"])).check()
        return f"{folder}/{name}"

    async def _contained_file(self, executor: Executor, checkout: str, relative_path: str) -> str:
        """The real path of ``relative_path`` in ``checkout``, refused unless it is a regular file inside it."""
        root = await _real_path(executor, checkout)
        if root is None:
            raise InvalidInputError("this session's checkout is not there anymore", field="path")
        source = await _real_path(executor, f"{checkout.rstrip('/')}/{relative_path}")
        if source is None:
            raise InvalidInputError(f"{relative_path} is not a file in your checkout", field="path")
        if not source.startswith(root.rstrip("/") + "/"):
            raise InvalidInputError(
                f"{relative_path} leads out of your checkout (to {source}); only files inside it can be recorded",
                field="path",
            )
        kind = await executor.run(["stat", "--format=%F:%h", "--", source])
        file_type, _, links = kind.stdout.strip().rpartition(":")
        if not kind.ok or not file_type.startswith("regular"):
            raise InvalidInputError(f"{relative_path} is not a regular file in your checkout", field="path")
        if links != "1":  # a hard link may share its content with a file outside the checkout
            raise InvalidInputError(f"{relative_path} has other hard links; copy it to a new file first", field="path")
        return source

    async def commit_pending(self, executor: Executor, path: str, message: str) -> bool:
        """Commit whatever the agent left uncommitted in the checkout; ``False`` when it was clean."""
        status = (await executor.run(["git", "status", "--porcelain"], cwd=path)).check()
        if not status.stdout.strip():
            return False
        (await executor.run(["git", "add", "-A"], cwd=path)).check()
        (await executor.run(["git", "commit", "--quiet", "-m", message], cwd=path)).check()
        return True
