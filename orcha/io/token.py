"""The API token: generated once per user, kept in the data directory (0600), printed as a login URL."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from orcha.io.private import (
    PrivatePathError,
    create_private_file,
    data_dir,
    publish_private_file,
    read_private_file,
)

TOKEN_FILE = "token"
TOKEN_BYTES = 32


def token_path() -> Path:
    """Where the user's token lives: ``<data dir>/token``."""
    return data_dir() / TOKEN_FILE


def load_or_create_token(path: str | os.PathLike[str] | None = None) -> str:
    """The stored token, created on first use (random, 256 bits). Two processes racing agree on one.

    Raises :class:`~orcha.io.private.PrivatePathError` when the file is a link, another user's, open to
    others, or empty.
    """
    location = Path(path) if path is not None else token_path()
    for _ in range(2):
        try:
            token = read_private_file(location).decode("utf-8", "replace").strip()
        except FileNotFoundError:
            publish_private_file(location, (secrets.token_urlsafe(TOKEN_BYTES) + "\n").encode())
            continue
        if not token or any(c.isspace() for c in token):
            raise PrivatePathError(f"{location} holds no usable token; delete it and orcha makes a new one")
        return token
    raise PrivatePathError(f"cannot create the token file {location}")


def rotate_token(path: str | os.PathLike[str] | None = None) -> str:
    """Replace the stored token with a new one (atomically) and return it; running servers keep the old one
    until they restart."""
    location = Path(path) if path is not None else token_path()
    token = secrets.token_urlsafe(TOKEN_BYTES)
    scratch = create_private_file(location.with_name(f".{location.name}.{secrets.token_hex(8)}"), f"{token}\n".encode())
    os.replace(scratch, location)
    return token
