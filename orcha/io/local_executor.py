"""Run commands on this machine, each in its own session and process group.

Cancelling the caller's scope delivers SIGTERM to the whole group, waits a grace period, then SIGKILLs the
group: a shell's children die with it (``kill_process_group``, the cancel delivery for trio processes).

An agent (a start with ``before_exec``) must be found again if orcha dies under it. An executor with a
``mark`` (``orcha serve``'s: its database's) starts it at once with the mark in its environment, recording
nothing: the boot sweep finds it in ``/proc`` (``orcha.io.local_processes.LocalProcesses.marked``). One without
holds it at :data:`GATE` until ``before_exec`` has recorded its identity.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from typing import IO

import trio

from orcha.batches import Batches
from orcha.executor import CommandError, CommandResult, LineSink
from orcha.io import private, proc_identity, txguard
from orcha.processes import ProcessRecorder, mark_env

MAX_CAPTURE = 1024 * 1024

GATE = ("sh", "-c", 'IFS= read -r _go || exit 97; exec "$@"', "orcha-gate")
"""Holds a program until one line arrives on its stdin; at end of file (orcha gone first) it exits 97 without
running it. ``sh`` reads a pipe a byte at a time, so the program's own input after that line is untouched."""


def unrunnable(program: str, path: str, cwd: str | None) -> str | None:
    """Why ``program`` cannot be executed (as ``exec`` would find it on ``path``, from ``cwd``), or ``None``."""
    if "/" not in program:
        return None if shutil.which(program, path=path) else "No such file or directory"
    candidate = os.path.join(cwd or "", program)
    if not os.path.exists(candidate):
        return "No such file or directory"
    if os.path.isdir(candidate) or not os.access(candidate, os.X_OK):
        return "Permission denied"
    return None


async def kill_process_group(process: trio.Process, *, grace: float) -> None:
    """SIGTERM the process's group, give it ``grace`` seconds, then SIGKILL whatever is left of it."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        if sig is signal.SIGTERM:
            with trio.move_on_after(grace):
                await process.wait()


class _Collector:
    def __init__(self, stream_name: str, on_line: LineSink | None) -> None:
        self._name = stream_name
        self._on_line = on_line
        self._pending = b""
        self._chunks: list[str] = []
        self._size = 0

    def feed(self, data: bytes) -> None:
        self._pending += data
        *lines, self._pending = self._pending.split(b"\n")
        for raw in lines:
            self._emit(raw)

    def close(self) -> None:
        if self._pending:
            self._emit(self._pending)
            self._pending = b""

    def _emit(self, raw: bytes) -> None:
        line = raw.decode("utf-8", errors="replace").rstrip("\r")
        if self._size < MAX_CAPTURE:
            self._chunks.append(line)
            self._size += len(line) + 1
        if self._on_line is not None:
            self._on_line(self._name, line)

    def text(self) -> str:
        return "\n".join(self._chunks) + ("\n" if self._chunks else "")


class LocalExecutor:
    """The executor of the machine orcha runs on. With ``mark``, the agents it starts carry it in their
    environment instead of waiting at the gate for their record (:func:`orcha.processes.database_mark`)."""

    name = "local"

    def __init__(self, *, grace: float = 3.0, mark: str | None = None) -> None:
        self.grace = grace
        self.mark = mark

    async def start(
        self,
        argv: Sequence[str],
        *,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        before_exec: ProcessRecorder | None = None,
        input: bytes = b"",
    ) -> LocalRunningCommand:
        command = [str(a) for a in argv]
        txguard.ensure_no_transaction(f"starting {command[0]}")
        mark = self.mark if before_exec is not None else None
        gate = before_exec if mark is None else None  # what the process waits for at the gate, if it does
        if mark is not None:  # found by its mark after a crash: it need not wait for a record
            env = {**(env or {}), **mark_env(mark)}
        merged_env = {**os.environ, **env} if env else None
        if gate is not None:  # the gate would only fail once released: refuse a missing program now
            problem = unrunnable(command[0], (merged_env or os.environ).get("PATH", os.defpath), cwd)
            if problem is not None:
                raise CommandError(f"cannot run {command[0]!r}: {problem}")
        stderr_file = tempfile.TemporaryFile()  # noqa: SIM115 - it lives as long as the process
        try:
            process = await trio.lowlevel.open_process(
                [*GATE, *command] if gate is not None else command,
                cwd=cwd,
                env=merged_env,
                start_new_session=True,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr_file,
            )
        except OSError as exc:
            stderr_file.close()
            raise CommandError(f"cannot run {command[0]!r}: {exc.strerror or exc}") from exc
        running = LocalRunningCommand(process, stderr_file, command)
        try:
            if gate is not None:
                await gate(proc_identity.identity_of(process.pid))
                await running.send(b"\n" + input)  # the gate lets the program run, its input after the line
            elif input:
                await running.send(input)
        except BaseException:
            with trio.CancelScope(shield=True):  # held at the gate (or only just let go): the group goes
                await running.kill(grace=self.grace)
            raise
        return running

    async def run(
        self,
        argv: Sequence[str],
        *,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        input: bytes | None = None,
        on_line: LineSink | None = None,
    ) -> CommandResult:
        command = [str(a) for a in argv]
        txguard.ensure_no_transaction(f"running {command[0]}")
        out, err = _Collector("stdout", on_line), _Collector("stderr", on_line)
        merged_env = {**os.environ, **env} if env else None
        try:
            process = await trio.lowlevel.open_process(
                command,
                cwd=cwd,
                env=merged_env,
                start_new_session=True,
                stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        except OSError as exc:
            raise CommandError(f"cannot run {command[0]!r}: {exc.strerror or exc}") from exc
        try:
            async with trio.open_nursery() as nursery:
                assert process.stdout is not None and process.stderr is not None
                nursery.start_soon(_pump, process.stdout, out)
                nursery.start_soon(_pump, process.stderr, err)
                if input is not None:
                    assert process.stdin is not None
                    nursery.start_soon(_feed, process.stdin, input)
                await process.wait()
        except BaseException:
            with trio.CancelScope(shield=True):  # cancelled (or failed): the whole tree goes
                await kill_process_group(process, grace=self.grace)
                await process.wait()
            raise
        out.close()
        err.close()
        return CommandResult(
            argv=tuple(command),
            exit_code=process.returncode if process.returncode is not None else -1,
            stdout=out.text(),
            stderr=err.text(),
        )

    # A few syscalls on local files each: done inline, like the process spawns above.

    async def make_private_dir(self, path: str) -> None:
        private.ensure_private_dir(path)

    async def write_private_file(self, path: str, data: bytes) -> None:
        private.create_private_file(path, data)

    async def remove_file(self, path: str) -> None:
        private.remove_private_file(path)


STDERR_KEPT = 64 * 1024
"""How much of an exited process's stderr :meth:`LocalRunningCommand.stderr_tail` can still show."""


class LocalRunningCommand:
    """A process started by :meth:`LocalExecutor.start`; stderr goes to a temporary file (never blocks)."""

    def __init__(self, process: trio.Process, stderr_file: IO[bytes], argv: list[str]) -> None:
        self._process = process
        self._stderr = stderr_file
        self._stderr_kept: bytes | None = None
        """Once the process has exited: the end of its stderr, and the temporary file is closed."""
        self.argv = argv
        self._stdin_closed = False

    @property
    def pid(self) -> int:
        return self._process.pid

    def lines(self) -> Batches[str]:
        assert self._process.stdout is not None
        stdout = self._process.stdout
        pending = b""

        async def step() -> list[str] | None:
            nonlocal pending
            try:
                chunk = await stdout.receive_some(65536)
            except (trio.ClosedResourceError, trio.BrokenResourceError):
                chunk = b""
            if not chunk:
                last, pending = pending, b""
                return [last.decode("utf-8", errors="replace")] if last else None
            pending += bytes(chunk)
            *complete, pending = pending.split(b"\n")
            return [raw.decode("utf-8", errors="replace").rstrip("\r") for raw in complete]

        return Batches(step)

    async def send(self, data: bytes) -> None:
        assert self._process.stdin is not None
        try:
            await self._process.stdin.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise CommandError(f"{self.argv[0]} is no longer reading its input") from exc

    async def close_stdin(self) -> None:
        if not self._stdin_closed and self._process.stdin is not None:
            self._stdin_closed = True
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                await self._process.stdin.aclose()

    async def wait(self) -> int:
        code = await self._process.wait()
        self._release_stderr()
        return code

    async def kill(self, grace: float = 2.0, *, drain: float = 0.0) -> None:
        with trio.CancelScope(shield=True):
            await self.close_stdin()
            if drain > 0:
                with trio.move_on_after(drain):
                    await self._process.wait()
            if self._process.returncode is None:
                await kill_process_group(self._process, grace=grace)
            else:  # the leader is gone; its children may not be
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self._process.pid, signal.SIGKILL)
            await self._process.wait()
            self._release_stderr()

    def stderr_tail(self, limit: int = 4000) -> str:
        if self._stderr_kept is not None:
            return self._stderr_kept[-limit:].decode("utf-8", errors="replace")
        return self._read_stderr(limit).decode("utf-8", errors="replace")

    def _read_stderr(self, limit: int) -> bytes:
        self._stderr.flush()
        size = self._stderr.seek(0, os.SEEK_END)
        self._stderr.seek(max(0, size - limit))
        return self._stderr.read()

    def _release_stderr(self) -> None:
        """The process has exited: keep the end of its stderr in memory and close the temporary file."""
        if self._stderr_kept is None:
            self._stderr_kept = self._read_stderr(STDERR_KEPT)
            self._stderr.close()


async def _pump(stream: trio.abc.ReceiveStream, collector: _Collector) -> None:
    while chunk := await stream.receive_some(65536):
        collector.feed(bytes(chunk))


async def _feed(stream: trio.abc.SendStream, data: bytes) -> None:
    try:
        await stream.send_all(data)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass
    finally:
        await stream.aclose()
