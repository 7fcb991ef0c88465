"""The secret files of agent processes: the MCP config or token each one reads at start.

Each agent process gets its own file, named from its session id and a random part (so a file a crash left
behind never blocks a resume), in the user's private secrets folder (``0700``; see :mod:`orcha.paths`),
created ``0600`` with ``O_CREAT|O_EXCL|O_NOFOLLOW`` through the target's executor: a file or a link someone
planted there is refused and the session fails, saying why. The run that owns the file removes it when it
stops, whatever ended it.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence

import attrs
import trio

from orcha.errors import OrchaError
from orcha.executor import Executor, remote_state_dir
from orcha.paths import secrets_dir

log = logging.getLogger(__name__)


@attrs.frozen(kw_only=True)
class SecretFile:
    """A secret file on an executor's machine, to remove when its agent process ends."""

    executor: Executor = attrs.field(eq=False)
    path: str

    async def remove(self) -> None:
        """Remove it (shielded, so a cancelled caller still cleans up; a failure is logged, not raised)."""
        with trio.CancelScope(shield=True):
            try:
                await self.executor.remove_file(self.path)
            except (OrchaError, OSError, ValueError) as exc:
                log.warning("cannot remove the secret file %s: %s", self.path, exc)


@attrs.frozen(kw_only=True)
class AgentProgram:
    """A program to run in a terminal (an agent's TUI), and the secret files to remove when it stops."""

    argv: tuple[str, ...]
    secrets: tuple[SecretFile, ...] = ()


async def write_secret(executor: Executor, folder: str | None, session_id: str, suffix: str, data: bytes) -> SecretFile:
    """Create a new secret file for one agent process of ``session_id`` in ``folder`` (default: the user's
    secrets folder); raises an :class:`~orcha.errors.OrchaError` when it cannot be created safely."""
    base = _folder(executor, folder)
    path = f"{base}/{session_id}-{secrets.token_hex(6)}{suffix}"
    await executor.write_private_file(path, data)
    return SecretFile(executor=executor, path=path)


async def remove_leftovers(executor: Executor, session_id: str, folder: str | None = None) -> int:
    """Remove every secret file of ``session_id`` still in ``folder`` (default: the user's secrets folder):
    what runs of an orcha that was killed left behind. Call it when the session has ended. Returns how many."""
    base = _folder(executor, folder)
    found = await executor.run(["find", base, "-maxdepth", "1", "-type", "f", "-name", f"{session_id}-*"])
    paths = [line for line in found.stdout.splitlines() if line.startswith(f"{base}/{session_id}-")]
    await remove_all([SecretFile(executor=executor, path=path) for path in paths])
    return len(paths)


async def remove_all(files: Sequence[SecretFile]) -> None:
    """Remove each of ``files`` (one that cannot be removed does not keep the others)."""
    for file in files:
        await file.remove()


def _folder(executor: Executor, folder: str | None) -> str:
    """``folder``, else the user's secrets folder; on an SSH target always orcha's own folder there."""
    remote = remote_state_dir(executor)
    chosen = f"{remote}/secrets" if remote else folder or secrets_dir()
    return chosen.rstrip("/") or "/"
