"""The executor contract: run a command somewhere (this machine, an SSH box) and stream its output.

Git, gh, workspace preparation and agent processes all go through an :class:`Executor`, so a command runs
the same way on every target. Cancelling the caller's scope stops the command and everything it started.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

import attrs

from orcha.batches import Batches
from orcha.errors import OrchaError
from orcha.processes import ProcessRecorder

LineSink = Callable[[str, str], None]
"""Called with ``("stdout" | "stderr", line)`` for each line as it arrives (without the newline)."""


class CommandError(OrchaError):
    """A command could not start, or exited non-zero where success was required."""

    code = "command_failed"


@attrs.frozen(kw_only=True)
class CommandResult:
    argv: tuple[str, ...]
    exit_code: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def check(self) -> CommandResult:
        """Return self, or raise :class:`CommandError` with the command and the tail of its stderr."""
        if not self.ok:
            tail = " ".join(self.stderr.strip().splitlines()[-3:]) or self.stdout.strip()[-300:]
            raise CommandError(f"`{' '.join(self.argv[:3])}` exited {self.exit_code}: {tail[-500:]}")
        return self


class RunningCommand(Protocol):
    """A long-lived command (an agent process): write its stdin, read its stdout lines, stop it."""

    def lines(self) -> Batches[str]:
        """Stdout, a line at a time (without the newline), until the process closes it; what a read brought
        is at hand at once (``ready()``)."""

    async def send(self, data: bytes) -> None:
        """Write to stdin. Raises :class:`CommandError` once the process is gone."""

    async def close_stdin(self) -> None:
        """Close stdin (many agent CLIs finish and exit on EOF). Idempotent."""

    async def wait(self) -> int:
        """Wait for the exit and return its status."""

    async def kill(self, grace: float = 2.0, *, drain: float = 0.0) -> None:
        """Stop the whole process tree: close stdin and give it ``drain`` seconds to exit by itself, then
        SIGTERM the group, wait ``grace``, SIGKILL. Idempotent."""

    def stderr_tail(self, limit: int = 4000) -> str:
        """The last ``limit`` characters the process wrote to stderr."""


class Executor(Protocol):
    """Runs commands on one target."""

    name: str

    async def start(
        self,
        argv: Sequence[str],
        *,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        before_exec: ProcessRecorder | None = None,
        input: bytes = b"",
    ) -> RunningCommand:
        """Start a long-lived command in its own process group, stdin and stdout piped; ``input`` is the start of
        its stdin (written as it is let run, with the gate's release when there is one: one write).

        ``before_exec`` says the process is an agent that a restarted orcha must find if this one dies under
        it. An executor that marks its agents (this machine's under ``orcha serve``: ``LocalExecutor(mark=…)``)
        starts it at once with the mark in its environment and calls nothing: the boot sweep finds it in
        ``/proc``. Any other creates it held at a gate: its identity (group, start time, boot) is awaited through
        ``before_exec`` and only then is the program let run. If ``before_exec`` raises, the process is killed
        (the program never ran) and the error propagates; if orcha dies before the release, the gate exits
        without running the program.

        Raises :class:`CommandError` when it cannot start.
        """

    async def run(
        self,
        argv: Sequence[str],
        *,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        input: bytes | None = None,
        on_line: LineSink | None = None,
    ) -> CommandResult:
        """Run ``argv`` to completion. Cancellation kills the whole process tree (SIGTERM, then SIGKILL).

        Raises :class:`CommandError` only when the command cannot start; a non-zero exit is a result.
        """

    async def make_private_dir(self, path: str) -> None:
        """Create the folder ``path`` (and missing parents) mode 0700 on the executor's machine, or check that
        an existing one is the user's own real folder (not a link) closed to everyone else.

        Raises an :class:`~orcha.errors.OrchaError` saying what is wrong otherwise.
        """

    async def write_private_file(self, path: str, data: bytes) -> None:
        """Create ``path`` mode 0600 with ``data`` (for secrets), its folder made private first.

        The file is opened ``O_CREAT|O_EXCL|O_NOFOLLOW`` (over SFTP: exclusive create): a file or a link that
        is already there, planted by anyone, is refused with an :class:`~orcha.errors.OrchaError`, never
        written through.
        """

    async def remove_file(self, path: str) -> None:
        """Remove the file ``path`` if it is there; a link is removed, never what it points to."""


def remote_state_dir(executor: Executor | None) -> str | None:
    """Where orcha keeps its own files (pane logs, agents' secret files) on the machine of a remote executor
    (its ``state_dir``); ``None`` for this machine, whose folders are the user's own (:mod:`orcha.paths`)."""
    value = getattr(executor, "state_dir", None)
    return str(value) if value else None


class CopiesOut(Protocol):
    """An executor of another machine that can copy one of its files to this machine."""

    async def copy_out(self, remote_path: str, local_path: str) -> None:
        """Copy the regular file ``remote_path`` there to a new private file ``local_path`` (0600) here."""


def copier(executor: Executor | None) -> CopiesOut | None:
    """The executor itself when its files are on another machine (it copies them out), else ``None``."""
    return executor if remote_state_dir(executor) is not None and hasattr(executor, "copy_out") else None  # type: ignore[return-value]


def reachable_url(executor: Executor | None, url: str | None) -> str | None:
    """``url`` (orcha's own, on this machine) as a program on the executor's machine reaches it: through the
    SSH connection's forwarded port for an SSH target (its ``reach_url``), unchanged here."""
    reach = getattr(executor, "reach_url", None)
    return reach(url) if url is not None and reach is not None else url


async def prepare_executor(executor: Executor | None) -> None:
    """Make the executor ready before a session starts on it (an SSH target: connected, orcha's port forwarded)."""
    ready = getattr(executor, "ready", None)
    if ready is not None:
        await ready()


def attach_prefix(executor: Executor | None) -> tuple[str, ...]:
    """The command line that reaches the executor's machine in a terminal (``ssh -t user@host``), to put
    before a remote ``tmux attach``; empty for this machine."""
    return tuple(getattr(executor, "attach_prefix", ()) or ())
