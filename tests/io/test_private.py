"""Private files and folders: 0700 folders, 0600 secrets, and nothing planted by someone else is used."""

from __future__ import annotations

import os
import stat

import pytest

from orcha.io.local_executor import LocalExecutor
from orcha.io.private import (
    PrivateFileExistsError,
    PrivatePathError,
    create_private_file,
    ensure_private_dir,
    read_private_file,
    remove_private_file,
    runtime_dir,
    state_dir,
)

NOBODY = 65534


def mode(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_a_secret_is_created_0600_in_folders_created_0700(tmp_path):
    path = tmp_path / "a" / "b" / "secret.json"
    create_private_file(path, b"s3cret")
    assert mode(path) == 0o600
    assert mode(tmp_path / "a" / "b") == 0o700
    assert mode(tmp_path / "a") == 0o700  # missing parents are private too
    assert read_private_file(path) == b"s3cret"


def test_a_pre_created_file_is_refused_and_left_as_it_was(tmp_path):
    ensure_private_dir(tmp_path / "mcp")
    planted = tmp_path / "mcp" / "ses_1.json"
    planted.write_text("planted")
    with pytest.raises(PrivateFileExistsError, match="already exists"):
        create_private_file(planted, b"s3cret")
    assert planted.read_text() == "planted"


@pytest.mark.parametrize("dangling", [False, True], ids=["to-a-file", "dangling"])
def test_a_planted_symlink_is_refused_and_its_target_untouched(tmp_path, dangling):
    ensure_private_dir(tmp_path / "mcp")
    victim = tmp_path / "victim.txt"
    if not dangling:
        victim.write_text("precious")
    link = tmp_path / "mcp" / "ses_1.json"
    link.symlink_to(victim)
    with pytest.raises(PrivatePathError):
        create_private_file(link, b"s3cret")
    if dangling:
        assert not victim.exists()  # not created through the link
    else:
        assert victim.read_text() == "precious"
    with pytest.raises(PrivatePathError):
        read_private_file(link)
    remove_private_file(link)  # removes the link, never what it points to
    assert not os.path.lexists(link)
    assert victim.exists() is not dangling


def test_a_symlinked_folder_is_refused(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    (tmp_path / "mcp").symlink_to(elsewhere)
    with pytest.raises(PrivatePathError, match="symbolic link"):
        ensure_private_dir(tmp_path / "mcp")
    with pytest.raises(PrivatePathError, match="symbolic link"):
        create_private_file(tmp_path / "mcp" / "ses_1.json", b"s3cret")
    assert list(elsewhere.iterdir()) == []


@pytest.mark.parametrize("folder_mode", [0o777, 0o1777, 0o770, 0o702])
def test_a_folder_others_may_write_is_refused(tmp_path, folder_mode):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(folder_mode)
    with pytest.raises(PrivatePathError, match="open to other users"):
        ensure_private_dir(shared)
    with pytest.raises(PrivatePathError, match="open to other users"):
        create_private_file(shared / "ses_1.json", b"s3cret")
    assert list(shared.iterdir()) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a folder to another user")
def test_another_users_folder_is_refused(tmp_path):
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o700)
    os.chown(theirs, NOBODY, NOBODY)
    with pytest.raises(PrivatePathError, match=f"belongs to uid {NOBODY}"):
        ensure_private_dir(theirs)


def test_a_file_where_a_folder_should_be_and_a_nul_are_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(PrivatePathError, match="not a directory"):
        ensure_private_dir(tmp_path / "file")
    with pytest.raises(PrivatePathError):
        ensure_private_dir(f"{tmp_path}/bad\0name")
    with pytest.raises(PrivatePathError):
        create_private_file(f"{tmp_path}/bad\0name", b"x")


def test_the_folders_are_the_users_own(private_homes, monkeypatch):
    assert str(state_dir()).startswith(str(private_homes / "state"))
    assert runtime_dir() == private_homes / "runtime" / "orcha"
    (private_homes / "runtime").chmod(0o755)  # a runtime dir open to others is not used
    assert runtime_dir() == state_dir() / "run"
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert runtime_dir() == state_dir() / "run"


async def test_the_local_executor_writes_secrets_through_the_same_checks(tmp_path):
    executor = LocalExecutor()
    folder = tmp_path / "run" / "mcp"
    await executor.make_private_dir(str(folder))
    assert mode(folder) == 0o700
    await executor.write_private_file(f"{folder}/one.token", b"tok")
    assert mode(folder / "one.token") == 0o600
    with pytest.raises(PrivateFileExistsError):
        await executor.write_private_file(f"{folder}/one.token", b"other")
    assert (folder / "one.token").read_bytes() == b"tok"
    victim = tmp_path / "victim"
    victim.write_text("precious")
    (folder / "two.token").symlink_to(victim)
    with pytest.raises(PrivatePathError):
        await executor.write_private_file(f"{folder}/two.token", b"tok")
    assert victim.read_text() == "precious"
    await executor.remove_file(f"{folder}/one.token")
    await executor.remove_file(f"{folder}/one.token")  # already gone: fine
    await executor.remove_file(f"{folder}/two.token")
    assert list(folder.iterdir()) == [] and victim.read_text() == "precious"


@pytest.mark.parametrize("folder_mode", [0o755, 0o750, 0o705])
def test_an_own_folder_others_may_only_read_is_made_private(tmp_path, folder_mode):
    older = tmp_path / "made-by-an-older-orcha"
    older.mkdir()
    older.chmod(folder_mode)
    assert ensure_private_dir(older) == older and older.stat().st_mode & 0o777 == 0o700
