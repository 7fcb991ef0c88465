"""An objective's repo is checked when it is created: unreachable, or without its base branch, is a clear 400."""

from __future__ import annotations

import pytest

from orcha.errors import InvalidInputError
from tests.actors.harness import running, store_of
from tests.gitfixtures import Origin


async def test_a_reachable_repo_with_its_base_branch_is_accepted(tmp_path):
    origin = Origin(tmp_path)
    async with running(tmp_path) as orch:
        objective, _ = await orch.operations.create_objective(
            title="t", prompt="p", agent="claude", repo=str(origin.path), base_branch="main"
        )
        assert objective.repo == str(origin.path)


@pytest.mark.parametrize(
    ("repo", "field", "says"),
    [
        ("/nowhere/such.git", "repo", "cannot reach the repository"),
        ("--upload-pack=touch /tmp/pwned", "repo", "not a repository orcha can clone"),
        ("file:///nowhere/else.git", "repo", "cannot reach the repository"),
    ],
)
async def test_an_unreachable_repo_is_refused_and_nothing_is_created(tmp_path, repo, field, says):
    async with running(tmp_path) as orch:
        with pytest.raises(InvalidInputError) as refused:
            await orch.operations.create_objective(title="t", prompt="p", agent="claude", repo=repo)
        assert refused.value.field == field and says in str(refused.value)
        assert store_of(orch).list_objectives() == []


async def test_a_base_branch_the_repo_lacks_is_refused_naming_what_it_has(tmp_path):
    origin = Origin(tmp_path)
    async with running(tmp_path) as orch:
        with pytest.raises(InvalidInputError) as refused:
            await orch.operations.create_objective(
                title="t", prompt="p", agent="claude", repo=str(origin.path), base_branch="develop"
            )
        assert refused.value.field == "base_branch"
        assert "no branch 'develop'" in str(refused.value) and "main" in str(refused.value)
        assert store_of(orch).list_objectives() == []
