"""Where orcha keeps its own files on this machine: the user's data, state and runtime folders.

Only the paths (``platformdirs``); nothing here creates a folder. The edges make them private (``0700``)
where they are first used: :func:`orcha.io.private.ensure_private_dir`, or an executor's
``make_private_dir`` / ``write_private_file``. Nothing of orcha's lives under a fixed name in ``/tmp``.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import platformdirs

APP = "orcha"


def data_dir() -> Path:
    """``$XDG_DATA_HOME/orcha`` (``~/.local/share/orcha``): the database, the token, artifacts, checkouts."""
    return Path(platformdirs.user_data_dir(APP))


def state_dir() -> Path:
    """``$XDG_STATE_HOME/orcha`` (``~/.local/state/orcha``): logs that may be thrown away (tmux pane logs)."""
    return Path(platformdirs.user_state_dir(APP))


def runtime_dir() -> Path:
    """A per-user folder for secrets that live as long as a session: ``$XDG_RUNTIME_DIR/orcha`` when the
    runtime directory exists and is the user's own (it is on tmpfs and private), else ``<state dir>/run``."""
    base = os.environ.get("XDG_RUNTIME_DIR")
    if base and _is_own_private_dir(Path(base)):
        return Path(base) / APP
    return state_dir() / "run"


def secrets_dir() -> str:
    """Where the sessions' MCP secrets are written (one file per agent process, removed when it ends)."""
    return str(runtime_dir() / "mcp")


def tmux_log_dir() -> str:
    """Where the tmux panes of sessions are logged."""
    return str(state_dir() / "tmux")


def _is_own_private_dir(path: Path) -> bool:
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and not info.st_mode & 0o077
