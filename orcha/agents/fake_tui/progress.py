"""Where the fake agent TUI keeps its place in its script, so a new TUI for the same conversation carries on.

A pane is normally re-adopted with its program alive; a new one is started when the old one is gone (the
tmux server died with the machine) or when a manager that failed is restarted as a new session (orcha
resumes its conversation). The TUI saves its place after every step and turn end: the prompt its script
was made from, the step it is at, what the next input is for, what its team came to, a failed call's
takeover. A manager's place is kept per objective (a restarted manager is a new session of it), a
worker's per session. The file is private (0600 in a 0700 folder) and replaced whole on each save.
"""

from __future__ import annotations

import json
import os
from typing import Any

from orcha.agents.contract import StartRequest
from orcha.model import SessionRole


def progress_name(request: StartRequest) -> str:
    """The file name of the conversation's place: per objective for its manager, else per session."""
    if request.role is SessionRole.MANAGER:
        return f"{request.objective_id}-manager.json"
    return f"{request.session_id}.json"


class FileProgress:
    """The TUI's place, in the file ``path`` (its folder already private)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def load(self) -> dict[str, Any] | None:
        """The place saved last; ``None`` when there is none or it cannot be read (then the script starts over)."""
        try:
            with open(self.path, "rb") as handle:
                data = json.loads(handle.read(1_000_000))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def save(self, data: dict[str, Any]) -> None:
        """Replace the saved place with ``data`` (written to a new file, then renamed over the old one)."""
        temporary = f"{self.path}.{os.getpid()}.tmp"
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(data, handle)
        os.replace(temporary, self.path)
