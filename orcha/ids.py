"""Identifiers: short, random, prefixed by what they name (``ses_3f9a0c1d2e4b``)."""

from __future__ import annotations

import re
import secrets

PREFIXES = {
    "objective": "obj",
    "session": "ses",
    "target": "tgt",
    "workspace": "wsp",
    "pull_request": "pr",
    "pr_feedback": "fb",
    "question": "q",
    "artifact": "art",
    "note": "note",
}

_ID_PATTERN = re.compile(r"^[a-z]{1,5}_[0-9a-f]{12}$")


def new_id(kind: str) -> str:
    """Return a fresh id for a row of ``kind`` (a key of :data:`PREFIXES`)."""
    return f"{PREFIXES[kind]}_{secrets.token_hex(6)}"


def looks_like_id(text: str) -> bool:
    """Whether ``text`` has the shape of an orcha id (safe to use in paths and tmux names)."""
    return bool(_ID_PATTERN.match(text))
