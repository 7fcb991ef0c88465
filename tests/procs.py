"""Process helpers for tests."""

from __future__ import annotations


def process_state(pid: int) -> str:
    """A process's state letter from /proc; a zombie (Z) or a vanished process ("gone") is dead."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return "gone"


def is_dead(pid: int) -> bool:
    return process_state(pid) in ("Z", "gone")
