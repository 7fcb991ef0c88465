"""The real forge against real git (a bare origin) and the faithful fake gh."""

from __future__ import annotations

import os

import pytest

from orcha.executor import CommandError
from orcha.forge import ORCHA_MARK
from orcha.io.git_forge import GitForge, parse_pr
from orcha.io.local_executor import LocalExecutor
from orcha.model import PRState
from tests.gitfixtures import FAKE_GH, Origin, gh, git


@pytest.fixture
def forge(tmp_path, monkeypatch):
    """The real forge finding the fake `gh` on PATH, as it would find the real one."""
    monkeypatch.setenv("FAKE_GH_STATE", str(tmp_path / "gh.json"))
    monkeypatch.setenv("PATH", f"{FAKE_GH.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("ORCHA_GH", raising=False)
    forge = GitForge(local=LocalExecutor())
    assert forge.gh == "gh"
    return forge


async def test_push_open_refresh_comment_and_review(tmp_path, forge):
    origin = Origin(tmp_path)
    checkout = tmp_path / "work"
    git("clone", "--quiet", str(origin.path), str(checkout))
    git("checkout", "--quiet", "-b", "orcha/ses_1", cwd=checkout)
    (checkout / "a.py").write_text("print(1)\n")
    git("add", "a.py", cwd=checkout)
    git("-c", "user.name=t", "-c", "user.email=t@e", "commit", "--quiet", "-m", "a", cwd=checkout)

    sha = await forge.push(repo=str(origin.path), branch="orcha/ses_1", workdir=str(checkout))
    assert sha == origin.head("orcha/ses_1")
    pr = await forge.open_pr(
        repo=str(origin.path), branch="orcha/ses_1", base="main", title="Add a", body="Adds a.", workdir=str(checkout)
    )
    assert (pr.number, pr.state, pr.head_sha, pr.branch, pr.base) == (1, PRState.OPEN, sha, "orcha/ses_1", "main")

    await forge.comment(pr.url, "Addressed the feedback.")
    assert (await forge.refresh_pr(pr.url)).feedback == ()  # orcha's own comment is not feedback
    gh(
        "fake-review",
        pr.url,
        "--author",
        "rev",
        "--body",
        "Rename x.",
        "--state",
        "CHANGES_REQUESTED",
        state=tmp_path / "gh.json",
    )
    gh("fake-review", pr.url, "--author", "rev", "--body", "", "--state", "APPROVED", state=tmp_path / "gh.json")
    snapshot = await forge.refresh_pr(pr.url)
    assert [(f.kind, f.author, f.body) for f in snapshot.feedback] == [("changes_requested", "rev", "Rename x.")]
    gh("pr", "merge", pr.url, "--squash", state=tmp_path / "gh.json")
    assert (await forge.refresh_pr(pr.url)).pr.state is PRState.MERGED


async def test_a_forced_push_uses_a_lease(tmp_path, forge):
    origin = Origin(tmp_path)
    checkout = tmp_path / "work"
    git("clone", "--quiet", str(origin.path), str(checkout))
    git("-c", "user.name=t", "-c", "user.email=t@e", "commit", "--quiet", "--allow-empty", "-m", "x", cwd=checkout)
    await forge.push(repo=str(origin.path), branch="feature", workdir=str(checkout))
    amend = ("commit", "--quiet", "--amend", "--allow-empty", "-m", "y")
    git("-c", "user.name=t", "-c", "user.email=t@e", *amend, cwd=checkout)
    with pytest.raises(CommandError):
        await forge.push(repo=str(origin.path), branch="feature", workdir=str(checkout))
    git("fetch", "--quiet", "origin", cwd=checkout)
    sha = await forge.push(repo=str(origin.path), branch="feature", workdir=str(checkout), force=True)
    assert origin.head("feature") == sha


async def test_gh_errors_become_command_errors(tmp_path, forge):
    with pytest.raises(CommandError, match="exited 1"):
        await forge.refresh_pr("https://github.example/acme/none/pull/99")
    with pytest.raises(CommandError, match="needs the session's checkout"):
        await forge.push(repo="r", branch="b")
    assert os.access(FAKE_GH, os.X_OK)


def test_parse_pr_reads_gh_json_and_skips_approvals_and_orcha():
    snapshot = parse_pr(
        {
            "number": 3,
            "url": "u",
            "state": "CLOSED",
            "headRefName": "h",
            "baseRefName": "main",
            "headRefOid": "abc",
            "reviews": [
                {"id": "R1", "author": {"login": "a"}, "body": "", "state": "CHANGES_REQUESTED"},
                {"id": "R2", "author": {"login": "b"}, "body": "lgtm", "state": "APPROVED"},
            ],
            "comments": [
                {"id": "C1", "author": {"login": "c"}, "body": "why?"},
                {"id": "C2", "author": {"login": "orcha"}, "body": f"done\n\n{ORCHA_MARK}"},
            ],
        }
    )
    assert snapshot.pr.state is PRState.CLOSED
    assert [(f.external_id, f.kind) for f in snapshot.feedback] == [("R1", "changes_requested"), ("C1", "comment")]
    with pytest.raises(CommandError):
        parse_pr({"number": 1})


async def test_find_open_pr_lists_the_branch_s_open_pr_only(tmp_path, forge):
    origin = Origin(tmp_path)
    checkout = tmp_path / "work"
    git("clone", "--quiet", str(origin.path), str(checkout))
    git("checkout", "--quiet", "-b", "orcha/ses_1", cwd=checkout)
    git("-c", "user.name=t", "-c", "user.email=t@e", "commit", "--quiet", "--allow-empty", "-m", "a", cwd=checkout)
    repo, work = str(origin.path), str(checkout)
    assert await forge.find_open_pr(repo=repo, branch="orcha/ses_1", workdir=work) is None
    sha = await forge.push(repo=repo, branch="orcha/ses_1", workdir=work)
    opened = await forge.open_pr(repo=repo, branch="orcha/ses_1", base="main", title="A", body="", workdir=work)

    found = await forge.find_open_pr(repo=repo, branch="orcha/ses_1", workdir=work)
    assert found == opened and found.head_sha == sha
    assert await forge.find_open_pr(repo=repo, branch="orcha/ses_2", workdir=work) is None
    gh("pr", "close", opened.url, state=tmp_path / "gh.json")
    assert await forge.find_open_pr(repo=repo, branch="orcha/ses_1", workdir=work) is None


async def test_a_missing_gh_is_a_command_error_naming_it(tmp_path, monkeypatch):
    monkeypatch.setenv("ORCHA_GH", str(tmp_path / "nowhere" / "gh"))
    forge = GitForge(local=LocalExecutor())
    with pytest.raises(CommandError, match=r"cannot run .*nowhere/gh"):
        await forge.find_open_pr(repo="r", branch="b", workdir=str(tmp_path))
    with pytest.raises(CommandError, match=r"cannot run .*nowhere/gh"):
        await forge.open_pr(repo="r", branch="b", base="main", title="t", body="", workdir=str(tmp_path))
