"""Real git with local bare repositories as origins, and the fake `gh` on the command line."""

from __future__ import annotations

import os
import pathlib
import subprocess

FAKE_GH = pathlib.Path(__file__).resolve().parent / "fixtures" / "bin" / "gh"
GIT_ENV = {
    "GIT_AUTHOR_NAME": "test",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "test",
    "GIT_COMMITTER_EMAIL": "t@example.com",
}


def git(*args: str, cwd: pathlib.Path | str | None = None) -> str:
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, env={**os.environ, **GIT_ENV})
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


class Origin:
    """A bare origin with a ``main`` branch, and a scratch clone to move upstream with."""

    def __init__(self, root: pathlib.Path) -> None:
        self.path = root / "origin.git"
        self.scratch = root / "upstream-clone"
        git("init", "--quiet", "--bare", "-b", "main", str(self.path))
        git("clone", "--quiet", str(self.path), str(self.scratch))
        self.commit("README.md", "hello\n", "initial commit")

    def commit(self, name: str, text: str, message: str) -> str:
        """Push a new commit to origin's main (upstream moves) and return its sha."""
        (self.scratch / name).write_text(text)
        git("add", name, cwd=self.scratch)
        git("commit", "--quiet", "-m", message, cwd=self.scratch)
        git("push", "--quiet", "origin", "HEAD:main", cwd=self.scratch)
        return self.head("main")

    def head(self, branch: str) -> str:
        return git("--git-dir", str(self.path), "rev-parse", f"refs/heads/{branch}")

    def parent(self, branch: str) -> str:
        return git("--git-dir", str(self.path), "rev-parse", f"refs/heads/{branch}^")


def gh(*args: str, state: pathlib.Path) -> str:
    result = subprocess.run(
        [str(FAKE_GH), *args], capture_output=True, text=True, env={**os.environ, "FAKE_GH_STATE": str(state)}
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()
