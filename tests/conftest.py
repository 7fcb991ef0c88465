"""Shared fixtures: a fresh store on a temporary file, and small builders for rows the tests need."""

from __future__ import annotations

import pathlib
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from orcha.io.store import Store
from orcha.model import Session, Target, TargetKind, TargetStatus


@pytest.fixture(autouse=True)
def private_homes(tmp_path_factory, monkeypatch):
    """orcha's data, state and runtime folders (secrets, pane logs, checkouts) and its tmux server in a folder
    of the test's own, never the user's real ones; the tmux server is killed when the test ends."""
    home = tmp_path_factory.mktemp("xdg")
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / "state"))
    (home / "runtime").mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(home / "runtime"))
    (home / "tmux").mkdir(mode=0o700)
    monkeypatch.setenv("TMUX_TMPDIR", str(home / "tmux"))  # a tmux server of the test's own ...
    yield home
    _kill_tmux_servers(home / "tmux")  # ... that ends with it, with every pane it still has


def _kill_tmux_servers(folder: pathlib.Path) -> None:
    for socket in folder.glob("tmux-*/*"):
        if socket.is_socket() and shutil.which("tmux"):
            subprocess.run(["tmux", "-S", str(socket), "kill-server"], capture_output=True, timeout=10, check=False)


@pytest.fixture
def db_path(tmp_path) -> str:
    return str(tmp_path / "orcha.db")


@pytest.fixture
def store(db_path) -> Iterator[Store]:
    with Store(db_path) as opened:
        yield opened


def make_target(store: Store, name: str = "local", *, capacity: int = 3, status=TargetStatus.ONLINE) -> Target:
    return store.create_target(
        name=name, kind=TargetKind.LOCAL, work_root="/tmp/orcha", capacity_sessions=capacity, status=status
    )


def make_worker(store: Store, objective_id: str, **kwargs) -> Session:
    return store.create_session(objective_id=objective_id, agent="fake", prompt="do it", **kwargs)


@pytest.fixture
def fake_clis(tmp_path, monkeypatch):
    """The fake agent CLIs (claude, codex) and the fake gh first on PATH, with homes and logs in tmp_path."""
    import os

    from tests.gitfixtures import FAKE_GH

    monkeypatch.setenv("PATH", f"{FAKE_GH.parent}{os.pathsep}{os.environ['PATH']}")
    for name in ("CLAUDE", "CODEX"):
        monkeypatch.setenv(f"FAKE_{name}_HOME", str(tmp_path / f"{name.lower()}-home"))
        monkeypatch.setenv(f"FAKE_{name}_LOG", str(tmp_path / f"{name.lower()}.log"))
    monkeypatch.setenv("FAKE_CLAUDE_SLOW", "30")
    monkeypatch.setenv("FAKE_CODEX_SLOW", "30")
    return tmp_path
