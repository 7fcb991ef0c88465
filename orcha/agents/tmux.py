"""Sessions in tmux: an attachable TUI or shell that a human can watch and take over.

:class:`TmuxController` speaks to tmux through an executor (so it works on SSH targets too); every shell
command it builds is quoted. :class:`TmuxProvider` runs a program in ``orcha-<session id>``, streams the pane
into the transcript (``pipe-pane`` to a log that :mod:`orcha.agents.pane_log` follows), steers with
``send-keys``, snapshots with ``capture-pane`` and cancels by killing the pane's processes and the session.

Each line of the transcript carries the byte offset in the pane log just past it: a pane that outlived orcha
is re-adopted by :meth:`TmuxProvider.resume` from the offset the transcript has consumed, so what it printed
meanwhile arrives once, in order.

A program that speaks :mod:`orcha.agents.pane_reports` (orcha's fake agent TUI) also reports usage, questions
and the end of each turn in its lines, invisibly; a provider made with ``reports=True`` reads them.
"""

from __future__ import annotations

import contextlib
import re
import shlex
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import trio

from orcha.agents.contract import AgentEvent, Capabilities, ProviderSessionStarted, StartRequest, TextOut, TurnCompleted
from orcha.agents.pane_log import PaneLines, log_size, reader_argv
from orcha.agents.pane_reports import PaneReports
from orcha.agents.private_files import AgentProgram, SecretFile, remove_all
from orcha.batches import Batches
from orcha.executor import CommandError, Executor, RunningCommand, attach_prefix, remote_state_dir
from orcha.paths import tmux_log_dir
from orcha.procfs import read_identity

EXIT_MARK = "__orcha_exit__"
AT_ONCE = 256
"""The reader's lines (two a pane line) parsed in one step at most: a read of a burst holds thousands, and the
loop is not held for all of them (about a millisecond a step here)."""
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]|[\x00-\x08\x0b-\x1f]")


def session_name(session_id: str) -> str:
    return f"orcha-{session_id}"


def clean(line: str) -> str:
    """A pane line without terminal escapes and control characters."""
    return _ANSI.sub("", line).rstrip()


class TmuxController:
    """tmux verbs, run through an executor."""

    def __init__(self, executor: Executor, *, tmux: str = "tmux") -> None:
        self._executor = executor
        self._tmux = tmux

    async def _run(self, *args: str) -> str:
        return (await self._executor.run([self._tmux, *args])).check().stdout

    async def new_session(
        self,
        name: str,
        *,
        cwd: str | None,
        command: Sequence[str],
        width: int = 200,
        tty_modes: Sequence[str] = (),
    ) -> None:
        """Create a detached session whose pane runs ``command`` (in ``cwd``, else tmux's default folder) once
        :meth:`release` is called (so the pane can be piped first); when the program exits, the pane prints
        the exit mark. ``tty_modes`` (``stty`` arguments) are set on the pane's terminal before that, so
        what is typed into the pane as soon as it is released already meets them."""
        program = shlex.join(command)
        ready = shlex.quote(f"{name}-ready")
        modes = f"stty {shlex.join(tty_modes)}; " if tty_modes else ""
        wrapped = f"{modes}{shlex.quote(self._tmux)} wait-for {ready}; {program}; echo {EXIT_MARK} $?"
        where = ("-c", cwd) if cwd else ()
        await self._run("new-session", "-d", "-s", name, "-x", str(width), "-y", "50", *where, wrapped)

    async def release(self, name: str) -> None:
        """Let the program of a session made by :meth:`new_session` start."""
        await self._run("wait-for", "-S", f"{name}-ready")

    async def pipe_pane(self, name: str, path: str) -> None:
        """Append the pane's output to ``path``. ``-o`` toggles: it closes a pipe that is already open."""
        await self._run("pipe-pane", "-o", "-t", name, f"cat >> {shlex.quote(path)}")

    async def close_pipe(self, name: str) -> None:
        await self._run("pipe-pane", "-t", name)

    async def is_piped(self, name: str) -> bool:
        return (await self._run("display-message", "-p", "-t", name, "#{pane_pipe}")).strip() == "1"

    async def send_keys(self, name: str, text: str, *, enter: bool = True) -> None:
        """Type ``text`` (its line breaks as newlines, never as Enter), then Enter."""
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        await self._run("send-keys", "-t", name, "-l", "--", text)
        if enter:
            await self._run("send-keys", "-t", name, "Enter")

    async def capture(self, name: str) -> str:
        return await self._run("capture-pane", "-p", "-J", "-t", name)

    async def has_session(self, name: str) -> bool:
        return (await self._executor.run([self._tmux, "has-session", "-t", name])).ok

    async def pane_pids(self, name: str) -> list[int]:
        result = await self._executor.run([self._tmux, "list-panes", "-t", name, "-F", "#{pane_pid}"])
        return [int(pid) for pid in result.stdout.split() if pid.isdigit()] if result.ok else []

    async def pane_pid(self, name: str) -> int:
        """The pid of the session's (first) pane: the leader of the pane's own Unix session."""
        pids = await self.pane_pids(name)
        if not pids:
            raise CommandError(f"tmux session {name} has no pane")
        return pids[0]

    async def kill_session(self, name: str) -> None:
        """Kill every process of the session's panes (each pane is its own Unix session), then the session."""
        for pid in await self.pane_pids(name):
            await self._executor.run(["pkill", "-KILL", "-s", str(pid)])
        await self._executor.run([self._tmux, "kill-session", "-t", name])


class TmuxRun:
    """A program in a tmux pane, read from its pane log by ``reader`` from byte ``offset`` on."""

    def __init__(
        self,
        controller: TmuxController,
        name: str,
        reader: RunningCommand,
        secrets: Sequence[SecretFile] = (),
        *,
        offset: int = 0,
        notes: Sequence[TextOut] = (),
        attach_prefix: Sequence[str] = (),
        reopen: Callable[[int], Awaitable[RunningCommand | None]] | None = None,
        reports: bool = False,
    ) -> None:
        self._reports = PaneReports() if reports else None
        """Reads the in-band reports of a program that speaks them (:mod:`orcha.agents.pane_reports`)."""
        self._attach_prefix = tuple(attach_prefix)
        """``ssh -t user@host`` for a pane on an SSH target: the recorded attach command reaches it."""
        self._reopen = reopen
        """For a pane on an SSH target: a new reader from a byte offset once the connection came back
        (``None`` when the pane is gone or the target stays unreachable)."""
        self._stopping = False
        self._controller = controller
        self.name = name
        self._reader = reader
        self._secrets = tuple(secrets)
        self._offset = offset
        self._notes = tuple(notes)
        self._canceled = False

    def events(self) -> AsyncIterator[AgentEvent]:
        """The pane's lines as :class:`TextOut` (each with the log offset just past it), then the exit."""
        lines = self._reader.lines()
        log = PaneLines(self._offset)
        started = ended = False

        async def step() -> list[AgentEvent] | None:
            nonlocal started, ended, lines, log
            if not started:
                started = True
                attach = shlex.join([*self._attach_prefix, "tmux", "attach", "-t", self.name])
                return [ProviderSessionStarted(provider_session_id=self.name, attach_command=attach), *self._notes]
            out = None if ended else await anext(lines, None)
            if out is None and not ended and not self._stopping and self._reopen is not None:
                reader = await self._reopen(log.offset)  # the connection dropped: read on from the offset
                if reader is not None and not self._stopping:
                    old, self._reader = self._reader, reader
                    with contextlib.suppress(CommandError):
                        await old.kill(grace=0.5)  # the old reader's group outlived its channel
                    lines, log = reader.lines(), PaneLines(log.offset)
                    return []
            if out is None:
                return None
            events: list[AgentEvent] = []
            for taken in (out, *lines.ready(AT_ONCE - 1)):  # what the read brought, a bounded step at a time
                raw = log.feed(taken)
                if raw is None:
                    continue
                text = raw.decode("utf-8", errors="replace")
                reported: list[AgentEvent] = []
                if self._reports is not None:
                    text, reported = self._reports.feed(text)
                line = clean(text)
                if line.startswith(EXIT_MARK):
                    ended = True
                    code = line[len(EXIT_MARK) :].strip()
                    events.append(
                        TurnCompleted(final_text=f"the program exited ({code})", failed=code not in ("", "0"))
                    )
                    break  # (the rest of the read is after the program's end: not its output)
                if line:
                    events.append(TextOut(text=line, offset=log.offset))
                events.extend(reported)
            return events

        return Batches(step)

    async def send(self, text: str) -> None:
        await self._controller.send_keys(self.name, text)

    async def snapshot(self) -> str:
        return await self._controller.capture(self.name)

    async def detach(self) -> None:
        """Stop reading the pane and leave its program running (as when orcha stops): a later
        :meth:`TmuxProvider.resume` re-adopts it. Idempotent."""
        self._stopping = True
        await self._reader.kill(grace=1.0)

    async def cancel(self) -> None:
        if self._canceled:
            return
        self._canceled = True
        self._stopping = True
        try:
            await self._controller.kill_session(self.name)
            await self._reader.kill(grace=1.0)
        finally:
            await remove_all(self._secrets)


class TmuxProvider:
    """Runs ``program`` (a shell by default, or an agent's TUI) in an attachable tmux session."""

    capabilities = Capabilities(interactive=True, screen=True)

    def __init__(
        self,
        program: Sequence[str] = ("bash", "--norc", "-i"),
        *,
        name: str = "shell",
        log_dir: str | None = None,
        command: Callable[[StartRequest], Awaitable[Sequence[str] | AgentProgram]] | None = None,
        reads_input: bool | None = None,
        reports: bool = False,
        tty_modes: Sequence[str] = (),
    ) -> None:
        self.name = name
        self.program = tuple(program)
        self.log_dir = log_dir
        """Where pane logs go (a private folder, 0700); ``None``: :func:`orcha.paths.tmux_log_dir`."""
        self._command = command
        """Builds the program per session (an agent TUI with the session's MCP flags and secret files)."""
        self.reads_input = command is not None if reads_input is None else reads_input
        """Whether the program reads notices typed into it (an agent's TUI: the default with ``command``); a
        plain shell does not, so :meth:`resume` types nothing into it."""
        self.reports = reports
        """Whether the program reports usage, questions and turn ends in its lines (orcha's fake agent TUI
        does; see :mod:`orcha.agents.pane_reports`). Never for a program that prints what others wrote."""
        self.tty_modes = tuple(tty_modes)
        """``stty`` settings of the pane's terminal before the program starts (e.g. Enter told apart from
        a newline in what is typed: ``-icrnl``)."""

    async def start(self, request: StartRequest) -> TmuxRun:
        """A new pane running the program, with ``request.prompt`` typed into it."""
        return await self._open(request, request.prompt, reuse=False)

    async def resume(self, request: StartRequest, provider_session_id: str, text: str) -> TmuxRun:
        """Re-adopt the session's pane if it still runs, reading its log from ``request.resume_offset`` (the
        bytes the transcript has consumed; 0 when ``None``), else start a new pane. ``text`` is typed only
        into a program that :attr:`reads_input`."""
        return await self._open(request, text if self.reads_input else "", reuse=True)

    async def _open(self, request: StartRequest, first_input: str, *, reuse: bool) -> TmuxRun:
        if request.executor is None:
            raise CommandError(f"session {request.session_id} has no executor to run tmux on")
        executor = request.executor
        controller = TmuxController(executor)
        name = session_name(request.session_id)
        remote = remote_state_dir(executor)  # an SSH target's pane logs stay on it
        log_dir = (f"{remote}/tmux" if remote else self.log_dir or tmux_log_dir()).rstrip("/") or "/"
        log = f"{log_dir}/{name}.log"
        await executor.make_private_dir(log_dir)
        reattached = reuse and await controller.has_session(name)
        secrets: tuple[SecretFile, ...] = ()
        created = False
        offset = 0
        notes: tuple[TextOut, ...] = ()
        try:
            if reattached:
                offset, notes = await _readopt(executor, controller, name, log, request.resume_offset)
            else:
                await executor.remove_file(log)
                program = await self._program(request)
                secrets = program.secrets
                await controller.new_session(name, cwd=request.cwd, command=program.argv, tty_modes=self.tty_modes)
                created = True
                await controller.pipe_pane(name, log)
                if request.record_process is not None:
                    pid = await controller.pane_pid(name)
                    await request.record_process(await read_identity(executor, pid, kind="tmux", tmux_session=name))
                await controller.release(name)
                (await executor.run(["touch", log])).check()
            reader = await executor.start(reader_argv(log, offset))
        except BaseException:
            with trio.CancelScope(shield=True):
                if created:
                    await controller.kill_session(name)
                await remove_all(secrets)
            raise
        reopen = None
        if remote is not None:

            async def reopen(offset: int) -> RunningCommand | None:
                return await _reopen_reader(executor, controller, name, log, offset)

        run = TmuxRun(
            controller, name, reader, secrets, offset=offset, notes=notes, attach_prefix=attach_prefix(executor),
            reopen=reopen, reports=self.reports,
        )  # fmt: skip
        if first_input.strip():
            try:
                await controller.send_keys(name, first_input)
            except BaseException:
                await run.cancel()
                raise
        return run

    async def _program(self, request: StartRequest) -> AgentProgram:
        if self._command is None:
            return AgentProgram(argv=self.program)
        built = await self._command(request)
        return built if isinstance(built, AgentProgram) else AgentProgram(argv=tuple(built))


REOPEN_BACKOFF = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0)
"""Seconds before each attempt to read a remote pane again after its connection dropped."""


async def _reopen_reader(
    executor: Executor, controller: TmuxController, name: str, log: str, offset: int
) -> RunningCommand | None:
    """A new reader of the pane log from ``offset`` once the target answers again (the pane kept running
    there); ``None`` when the pane is gone or every attempt failed."""
    for delay in REOPEN_BACKOFF:
        await trio.sleep(delay)
        try:
            if not await controller.has_session(name):
                return None
            if not await controller.is_piped(name):
                await controller.pipe_pane(name, log)
            return await executor.start(reader_argv(log, offset))
        except CommandError:
            continue
    return None


async def _readopt(
    executor: Executor, controller: TmuxController, name: str, log: str, resume_offset: int | None
) -> tuple[int, tuple[TextOut, ...]]:
    """Where to read a re-adopted pane's log from, and what to say first. The pipe that ran while orcha was
    down goes on (a new one when it died or its log is gone); a log shorter than the offset the transcript
    consumed was replaced, so it is read from the start."""
    offset = resume_offset or 0
    size = await log_size(executor, log)
    if size is None or not await controller.is_piped(name):
        await controller.close_pipe(name)
        (await executor.run(["touch", log])).check()
        await controller.pipe_pane(name, log)
        size = size or 0
    if size >= offset:
        return offset, ()
    note = f"(the pane log is {size} bytes, shorter than the {offset} already read: it was replaced; reading it anew)"
    return 0, (TextOut(text=note, offset=0),)
