"""The API token: made once, private, shared by racing processes, refused when someone else could read it."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

from orcha.io.private import PrivatePathError
from orcha.io.token import load_or_create_token, rotate_token


def test_the_token_is_made_once_private_and_stable(tmp_path):
    path = tmp_path / "data" / "orcha" / "token"
    token = load_or_create_token(path)
    assert len(token) >= 40 and load_or_create_token(path) == token
    assert path.stat().st_mode & 0o777 == 0o600 and path.parent.stat().st_mode & 0o777 == 0o700
    assert [p.name for p in path.parent.iterdir()] == ["token"]  # no scratch file left behind


def test_racing_processes_agree_on_one_token(tmp_path):
    path = tmp_path / "token"
    seen: list[str] = []
    threads = [threading.Thread(target=lambda: seen.append(load_or_create_token(path))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(seen)) == 1 and len(seen) == 8


def test_a_planted_link_or_an_open_file_is_refused_and_never_written_through(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("someone else's file\n")
    link = tmp_path / "private" / "token"
    link.parent.mkdir(mode=0o700)
    link.symlink_to(victim)
    with pytest.raises(PrivatePathError, match="link"):
        load_or_create_token(link)
    assert victim.read_text() == "someone else's file\n"

    readable = tmp_path / "private" / "readable"
    readable.write_text("tok-tok-tok-tok-tok-tok\n")
    readable.chmod(0o644)
    with pytest.raises(PrivatePathError, match="open to other users"):
        load_or_create_token(readable)

    shared = tmp_path / "shared"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    with pytest.raises(PrivatePathError, match="open to other users"):
        load_or_create_token(shared / "token")


def test_an_empty_token_file_is_refused(tmp_path):
    path = tmp_path / "token"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.close(fd)
    with pytest.raises(PrivatePathError, match="no usable token"):
        load_or_create_token(path)


def test_rotation_replaces_the_token(tmp_path):
    path = tmp_path / "token"
    old = load_or_create_token(path)
    new = rotate_token(path)
    assert new != old and load_or_create_token(path) == new
    assert path.stat().st_mode & 0o777 == 0o600


def test_orcha_serve_refuses_a_token_file_others_can_read(tmp_path):
    data = tmp_path / "data" / "orcha"
    data.mkdir(parents=True, mode=0o700)
    (data / "token").write_text("a-token-that-others-can-read\n")
    (data / "token").chmod(0o644)
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data"), "ORCHA_TOKEN": ""}
    result = subprocess.run(
        [sys.executable, "-m", "orcha", "serve", "--port", "0", "--db", str(tmp_path / "x.db")],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 2 and "open to other users" in result.stderr and "chmod 600" in result.stderr
    assert "Traceback" not in result.stderr


def test_orcha_token_prints_the_stored_token_or_the_environment_s(tmp_path):
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data"), "ORCHA_TOKEN": ""}
    run = [sys.executable, "-m", "orcha", "token"]
    first = subprocess.run(run, capture_output=True, text=True, timeout=60, env=env, check=True).stdout.strip()
    assert first == (tmp_path / "data" / "orcha" / "token").read_text().strip()
    chosen = subprocess.run(
        run, capture_output=True, text=True, timeout=60, env={**env, "ORCHA_TOKEN": "mine-mine-mine-mine"}, check=True
    )
    assert chosen.stdout.strip() == "mine-mine-mine-mine"
    rotated = subprocess.run([*run, "--rotate"], capture_output=True, text=True, timeout=60, env=env, check=True)
    assert rotated.stdout.strip() not in ("", first) and "restart" in rotated.stderr
