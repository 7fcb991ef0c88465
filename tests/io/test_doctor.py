"""The local doctor's work root: created 0700 when missing, refused when others could plant files in it."""

from __future__ import annotations

import os
import stat

import pytest

from orcha.io.doctor import work_root_check


def test_a_missing_work_root_is_created_private(tmp_path):
    root = tmp_path / "data" / "orcha" / "work"
    check = work_root_check(str(root))
    assert check.ok, check.detail
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "data").stat().st_mode) == 0o700


def test_an_existing_folder_of_the_users_own_is_used_as_it_is(tmp_path):
    root = tmp_path / "chosen"
    root.mkdir(mode=0o755)
    root.chmod(0o755)
    assert work_root_check(str(root)).ok
    assert stat.S_IMODE(root.stat().st_mode) == 0o755


@pytest.mark.parametrize("folder_mode", [0o777, 0o1777, 0o775])
def test_a_work_root_others_can_write_to_fails(tmp_path, folder_mode):
    root = tmp_path / "shared"
    root.mkdir()
    root.chmod(folder_mode)
    check = work_root_check(str(root))
    assert not check.ok and "writable by other users" in check.detail and "chmod 700" in check.detail


def test_a_file_a_nul_or_another_users_folder_fails_without_crashing(tmp_path):
    (tmp_path / "file").write_text("x")
    assert "not a folder" in work_root_check(str(tmp_path / "file")).detail
    assert not work_root_check(f"{tmp_path}/bad\0root").ok  # a target stored before validation existed
    assert not os.path.exists(f"{tmp_path}/bad")
    if os.geteuid() == 0:
        theirs = tmp_path / "theirs"
        theirs.mkdir(mode=0o700)
        os.chown(theirs, 65534, 65534)
        assert "not to you" in work_root_check(str(theirs)).detail
