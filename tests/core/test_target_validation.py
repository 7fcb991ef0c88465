"""A new target's fields are checked before anything is stored or created: they end up in paths and on ssh
command lines."""

from __future__ import annotations

import pytest

from orcha.errors import InvalidInputError
from orcha.model import TargetKind
from orcha.targets import check_new_target, check_work_root
from tests.actors.harness import running, store_of


@pytest.mark.parametrize(
    "work_root",
    ["/srv/orcha", "/home/me/orcha work", "/a/./b", "/a/b/", "/a/..b/c", "/" + "x" * 1000],
)
def test_good_work_roots(work_root):
    assert check_work_root(work_root) == work_root


@pytest.mark.parametrize(
    ("work_root", "says"),
    [
        ("", "absolute"),
        ("relative/path", "absolute"),
        ("~/orcha", "absolute"),
        ("/srv/\0orcha", "NUL"),
        ("/srv/or\ncha", "line breaks"),
        ("/srv/../etc", "'..'"),
        ("/srv/orcha/..", "'..'"),
        ("/", "root folder"),
        ("//.", "root folder"),
        ("/" + "x" * 1024, "at most 1024"),
        (None, "absolute"),
        (7, "absolute"),
    ],
)
def test_bad_work_roots_are_refused_naming_the_field(work_root, says):
    with pytest.raises(InvalidInputError, match=says) as caught:
        check_work_root(work_root)
    assert caught.value.field == "work_root"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "box\0"}, "name"),
        ({"name": "box\nfake-log-line"}, "name"),
        ({"name": "b" * 101}, "name"),
        ({"host": "-oProxyCommand=touch /tmp/pwned"}, "host"),
        ({"host": "box\0.example"}, "host"),
        ({"host": "box example"}, "host"),
        ({"host": "box\n"}, "host"),
        ({"user": "-l"}, "user"),
        ({"user": "me\0"}, "user"),
        ({"user": "me you"}, "user"),
        ({"port": 0}, "port"),
        ({"port": 70000}, "port"),
        ({"port": True}, "port"),
        ({"metadata": {"identity_file": "-oProxyCommand=x"}}, "identity_file"),
        ({"metadata": {"identity_file": "/k\0"}}, "identity_file"),
    ],
)
def test_names_hosts_and_users_that_would_break_a_command_line_are_refused(fields, field):
    good = {"name": "box", "work_root": "/srv/orcha", "host": "box.example", "user": "me", "port": 22}
    with pytest.raises(InvalidInputError) as caught:
        check_new_target(**{**good, **fields})
    assert caught.value.field == field


def test_ordinary_ssh_targets_pass():
    check_new_target(name="gpu box #2", work_root="/data/orcha", host="10.0.0.7", user="ci-runner", port=2222)
    check_new_target(name="v6", work_root="/w", host="[fe80::1%eth0]", metadata={"identity_file": "/k/my key"})
    check_new_target(name="local", work_root="/w", host="", user="")


async def test_add_target_refuses_before_storing_or_creating_anything(tmp_path):
    async with running(tmp_path) as orch:
        store = store_of(orch)
        before = store.list_targets()
        for work_root in (f"{tmp_path}/new\0root", f"{tmp_path}/a/../b", "relative"):
            with pytest.raises(InvalidInputError) as caught:
                await orch.operations.add_target(
                    name="box2", kind=TargetKind.LOCAL, work_root=work_root, capacity_sessions=1
                )
            assert caught.value.field == "work_root"
        with pytest.raises(InvalidInputError) as caught:
            await orch.operations.add_target(
                name="box3", kind=TargetKind.SSH, host="-oProxyCommand=x", work_root="/w", capacity_sessions=1
            )
        assert caught.value.field == "host"
        assert store.list_targets() == before
        assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
        assert not [e for e in store.events_after(0) if e.kind == "target_created" and e.data.get("name") != "local"]
