"""Run commands on an SSH target: asyncssh on the process's one asyncio loop (trio-asyncio), pooled per target.

Every remote command is one string built with :func:`shlex.join` from argv lists, so no field, path or
branch name is ever parsed by the remote shell as anything but one word. Each runs under ``setsid -w sh -c
WRAPPER`` (:data:`WRAPPER`): the wrapper prints its pid (its own session and process group id) first, takes
the command's environment from stdin (so no secret ever appears on a command line), ``cd``s to the folder
and ``exec``s the argv. Cancelling sends SIGTERM to the remote group over the connection, SIGKILL after a
grace period, and checks over the connection that no process of the group is left: closing the channel alone
would leave a no-pty command running.

Authentication is by key only (the target's ``identity_file``, else the user's agent and default keys);
password and keyboard-interactive prompts are never offered. Host keys are checked against the target's
``known_hosts`` file (default ``~/.ssh/known_hosts``); :meth:`SSHExecutor.check_host` with
``trust_on_first_use`` records the first key of a host that file does not know; a key that differs from a
recorded one is always refused (:class:`HostKeyError`).

Blocking calls are checkpoints; none holds a database transaction (``txguard``).
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import warnings
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

import attrs
import trio

with warnings.catch_warnings():  # asyncssh names DSA keys at import, which cryptography >= 51 warns is deprecated
    warnings.filterwarnings("ignore", message="DSA is deprecated")
    import asyncssh

from orcha.batches import Batches
from orcha.executor import CommandError, CommandResult, LineSink
from orcha.io import private, txguard
from orcha.io.local_executor import MAX_CAPTURE
from orcha.model import Target
from orcha.processes import ProcessIdentity, ProcessRecorder
from orcha.procfs import identity_argv, parse_identity

WRAPPER = (
    'echo "$$"; '
    'while IFS= read -r kv && [ -n "$kv" ]; do export "$kv" || exit 125; done; '
    '[ "$1" = 1 ] && { IFS= read -r _go || exit 97; }; '
    'cd -- "$2" || exit 126; shift 2; exec "$@"'
)
"""The remote wrapper, run as ``setsid -w sh -c WRAPPER orcha GATED CWD ARGV...``: prints its pid (the group
id), exports ``NAME=value`` lines read from stdin up to an empty line, waits for one more line when GATED is
1 (the program is held until its identity is recorded), then runs ARGV in CWD. ``sh`` reads a pipe a byte at
a time, so the program's own input after those lines is untouched."""

POLL = 0.1
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
BACKOFF = (0.2, 1.0, 3.0)
"""Seconds to wait before each new attempt to connect after a failure."""


class SSHError(CommandError):
    """The SSH connection to a target could not be made or was lost."""

    code = "ssh_error"


class HostKeyError(SSHError):
    """The target's host key is unknown (and not trusted on first use), or differs from the recorded one."""

    code = "host_key_refused"


class SSHAuthError(SSHError):
    """The target refused every key orcha offered (orcha never asks for a password)."""

    code = "ssh_auth_refused"


@attrs.frozen(kw_only=True)
class SSHSpec:
    """Where and how to connect: the connection fields of an SSH target."""

    name: str
    host: str
    user: str | None = None
    port: int = 22
    identity_file: str | None = None
    known_hosts: str | None = None
    """The known_hosts file checked (and written on trust on first use); ``None``: ``~/.ssh/known_hosts``."""
    state_dir: str | None = None
    """orcha's own private folder on the target (pane logs, secret files): ``<work_root>/.orcha``."""

    @classmethod
    def of(cls, target: Target) -> SSHSpec:
        if not target.host:
            raise CommandError(f"target {target.name} has no host to connect to")
        known = target.metadata.get("known_hosts")
        return cls(
            name=target.name,
            host=target.host,
            user=target.user or None,
            port=target.port or 22,
            identity_file=target.identity_file,
            known_hosts=str(known) if known else None,
            state_dir=f"{target.work_root.rstrip('/')}/.orcha",
        )

    @property
    def known_hosts_path(self) -> str:
        return os.path.expanduser(self.known_hosts or "~/.ssh/known_hosts")

    @property
    def host_pattern(self) -> str:
        """The host as known_hosts names it (``[host]:port`` off port 22)."""
        return self.host if self.port == 22 else f"[{self.host}]:{self.port}"

    @property
    def destination(self) -> str:
        return f"{self.user}@{self.host}" if self.user else self.host

    def ssh_argv(self, *, tty: bool = False) -> list[str]:
        """The ``ssh`` command line a person runs to reach the target (before the remote command)."""
        argv = ["ssh"]
        if tty:
            argv.append("-t")
        if self.port != 22:
            argv += ["-p", str(self.port)]
        if self.identity_file:
            argv += ["-i", self.identity_file]
        if self.known_hosts:
            argv += ["-o", f"UserKnownHostsFile={self.known_hosts}"]
        return [*argv, self.destination]


def fingerprint(key: asyncssh.SSHKey) -> str:
    """The key's SHA256 fingerprint, as ``ssh-keygen -l`` prints it."""
    return str(key.get_fingerprint("sha256"))


def remote_command(argv: Sequence[str], *, cwd: str | None, gated: bool = False) -> str:
    """The one string sent to the remote shell for ``argv``: every word quoted by :func:`shlex.join`."""
    if not argv:
        raise CommandError("no command to run")
    return shlex.join(["setsid", "-w", "sh", "-c", WRAPPER, "orcha", "1" if gated else "0", cwd or ".", *argv])


def env_block(env: Mapping[str, str] | None) -> bytes:
    """The environment lines the wrapper reads from stdin, ended by an empty line."""
    lines = []
    for name, value in (env or {}).items():
        if not _ENV_NAME.match(name) or any(c in str(value) for c in "\n\r\0"):
            raise CommandError(f"environment variable {name!r} cannot be passed to an SSH target")
        lines.append(f"{name}={value}\n")
    return ("".join(lines) + "\n").encode()


def _trio_asyncio() -> Any:
    """trio-asyncio, imported on first use rather than with this module: importing it replaces the process's
    asyncio event loop policy, which only a process that opens :func:`open_ssh_loop` should get."""
    import trio_asyncio

    return trio_asyncio


def _check_loop() -> None:
    if _trio_asyncio().current_loop.get(None) is None:
        raise SSHError("SSH targets need the asyncio loop: run inside orcha.io.ssh_executor.open_ssh_loop()")


@contextlib.asynccontextmanager
async def open_ssh_loop() -> AsyncIterator[None]:
    """The process's one asyncio loop (trio-asyncio), for asyncssh; open it in the root nursery."""
    async with _trio_asyncio().open_loop():
        yield


async def _aio(fn: Any, *args: Any, **kwargs: Any) -> Any:
    return await _trio_asyncio().aio_as_trio(fn)(*args, **kwargs)


class _Lines:
    """Bytes in, lines out (without the newline); keeps up to :data:`MAX_CAPTURE` characters."""

    def __init__(self, stream_name: str, on_line: LineSink | None) -> None:
        self._name = stream_name
        self._on_line = on_line
        self._pending = b""
        self.kept: list[str] = []
        self._size = 0

    def feed(self, data: bytes) -> list[str]:
        self._pending += data
        *raw, self._pending = self._pending.split(b"\n")
        return [self._emit(r) for r in raw]

    def close(self) -> list[str]:
        rest, self._pending = self._pending, b""
        return [self._emit(rest)] if rest else []

    def _emit(self, raw: bytes) -> str:
        line = raw.decode("utf-8", errors="replace").rstrip("\r")
        if self._size < MAX_CAPTURE:
            self.kept.append(line)
            self._size += len(line) + 1
        if self._on_line is not None:
            self._on_line(self._name, line)
        return line

    def text(self) -> str:
        return "\n".join(self.kept) + ("\n" if self.kept else "")


class SSHExecutor:
    """The executor of one SSH target, over one pooled connection (channels multiplexed on it)."""

    def __init__(self, spec: SSHSpec, *, grace: float = 3.0, verify: float = 5.0, connect_timeout: float = 15.0,
                 keepalive: float = 15.0, backoff: Sequence[float] = BACKOFF,
                 on_unreachable: Callable[[str], None] | None = None) -> None:  # fmt: skip
        self.spec = spec
        self.name = spec.name
        self.grace = grace
        self.verify = verify
        self.connect_timeout = connect_timeout
        self.keepalive = keepalive
        self.backoff = tuple(backoff)
        self._conn: asyncssh.SSHClientConnection | None = None
        self._lock = trio.Lock()
        self.host_key: str | None = None
        """The fingerprint of the key the host showed at the last connection."""
        self.on_unreachable = on_unreachable
        """Told why, when a connection could not be made after every retry (the target then goes offline)."""
        self.opened = 0
        """How many connections were made (a reconnection after a drop counts)."""
        self.forward_to: int | None = None
        """orcha's own port on this machine (its MCP endpoint): forwarded to the target on each connection, so
        agents there reach it as ``127.0.0.1:<remote port>``."""
        self.remote_port: int | None = None
        """The target's end of that forward (asked for again after a reconnection, so agents keep their URL)."""
        self.state_dir = spec.state_dir
        self.attach_prefix = tuple(spec.ssh_argv(tty=True))

    # --- the connection -----------------------------------------------------------------------------------

    def _options(self, known_hosts: Any) -> dict[str, Any]:
        keys = [self.spec.identity_file] if self.spec.identity_file else ()
        return {
            "port": self.spec.port,
            "username": self.spec.user or (),  # asyncssh: () is "the local user name", None breaks it
            "known_hosts": known_hosts,
            "client_keys": keys,
            "agent_path": None if self.spec.identity_file else (),
            "password": None,
            "password_auth": False,
            "kbdint_auth": False,
            "config": None,
            "connect_timeout": self.connect_timeout,
            "keepalive_interval": self.keepalive,
            "keepalive_count_max": 3,
        }

    def _recorded(self) -> asyncssh.SSHKnownHosts | None:
        path = self.spec.known_hosts_path
        if not os.path.exists(path):
            return None
        try:
            return asyncssh.read_known_hosts(path)
        except (OSError, ValueError, asyncssh.KeyImportError) as exc:
            raise HostKeyError(f"cannot read the known_hosts file {path}: {exc}") from exc

    def _trusted(self, known: asyncssh.SSHKnownHosts | None, addr: str) -> list[asyncssh.SSHKey]:
        if known is None:
            return []
        host_keys, ca_keys, *_ = known.match(self.spec.host, addr, self.spec.port)
        return [*host_keys, *ca_keys]

    async def _open(self, *, trust_on_first_use: bool) -> asyncssh.SSHClientConnection:
        _check_loop()
        txguard.ensure_no_transaction(f"connecting to {self.spec.host}")
        known = self._recorded()
        path = self.spec.known_hosts_path
        first_use = trust_on_first_use and not self._trusted(known, self.spec.host)
        where = f"{self.spec.destination} port {self.spec.port}"
        checked: Any = None if first_use else (path if known else asyncssh.import_known_hosts(""))  # none known
        try:
            conn = await _aio(asyncssh.connect, self.spec.host, **self._options(checked))
        except asyncssh.HostKeyNotVerifiable as exc:
            if known is not None and self._trusted(known, self.spec.host):
                raise HostKeyError(
                    f"the host key of {where} has CHANGED: it is not the one recorded in {path}; refusing to "
                    "connect (if the machine was reinstalled, remove its old line from that file)"
                ) from exc
            raise HostKeyError(
                f"the host key of {where} is not known in {path}: add it (ssh-keyscan) or register the target with "
                "trust_on_first_use"
            ) from exc
        except asyncssh.PermissionDenied as exc:
            raise SSHAuthError(
                f"{where} refused orcha's keys (identity file: "
                f"{self.spec.identity_file or 'none, so the agent and default keys'}); orcha uses keys only"
            ) from exc
        except (OSError, asyncssh.Error) as exc:
            raise SSHError(f"cannot connect to {where}: {exc}") from exc
        key = conn.get_server_host_key()
        if key is not None:
            self.host_key = fingerprint(key)
        if first_use:
            peer = str((conn.get_extra_info("peername") or (self.spec.host,))[0])
            trusted = self._trusted(self._recorded(), peer)
            if key is None or (trusted and all(fingerprint(k) != self.host_key for k in trusted)):
                conn.close()
                raise HostKeyError(f"the host key of {where} has CHANGED (recorded for {peer} in {path}); refusing")
            if not trusted:
                _record_host_key(path, self.spec.host_pattern, key)
        if self.forward_to is not None:  # only to a host whose key was verified
            await self._forward(conn, self.forward_to)
        return conn

    async def _forward(self, conn: asyncssh.SSHClientConnection, local_port: int) -> None:
        """Listen on the target's loopback (the port used before, else a free one) and forward to orcha."""
        for wanted in dict.fromkeys((self.remote_port or 0, 0)):
            try:
                listener = await _aio(conn.forward_remote_port, "127.0.0.1", wanted, "127.0.0.1", local_port)
            except (OSError, asyncssh.Error):
                continue
            self.remote_port = int(listener.get_port())
            return
        self.remote_port = None  # agents there cannot reach orcha's MCP endpoint; commands still run

    def reach_url(self, url: str) -> str:
        """``url`` on this machine's loopback, as the target reaches it through the forwarded port."""
        local = f"http://127.0.0.1:{self.forward_to}/"
        if self.forward_to is None or self.remote_port is None or not url.startswith(local):
            return url
        return f"http://127.0.0.1:{self.remote_port}/{url[len(local) :]}"

    async def ready(self) -> None:
        """Connected (and orcha's port forwarded): what a session needs before its agent starts."""
        await self.connection()

    async def connection(self, *, trust_on_first_use: bool = False) -> asyncssh.SSHClientConnection:
        """The pooled connection, opened (again) when needed: after a failure, new attempts follow
        :data:`BACKOFF`; a refused host key or refused keys are not retried. Raises :class:`SSHError`."""
        async with self._lock:
            if self._conn is not None and not self._conn.is_closed():
                return self._conn
            self._conn = None
            delays = (0.0, *self.backoff)
            for attempt, delay in enumerate(delays):
                await trio.sleep(delay)
                try:
                    self._conn = await self._open(trust_on_first_use=trust_on_first_use)
                    self.opened += 1
                    return self._conn
                except (HostKeyError, SSHAuthError) as exc:
                    self._unreachable(exc)
                    raise
                except SSHError as exc:
                    if attempt == len(delays) - 1:
                        self._unreachable(exc)
                        raise
            raise AssertionError("unreachable")

    def _unreachable(self, exc: Exception) -> None:
        if self.on_unreachable is not None:
            self.on_unreachable(str(exc))

    async def check_host(self, *, trust_on_first_use: bool = False) -> str:
        """Connect (recording the host's first key when ``trust_on_first_use``); its key's fingerprint."""
        await self.connection(trust_on_first_use=trust_on_first_use)
        return self.host_key or ""

    def drop(self) -> None:
        """Forget the connection (it failed, or the test cut it); the next command opens a new one."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    async def aclose(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
            with trio.move_on_after(2), contextlib.suppress(Exception):
                await _aio(conn.wait_closed)

    # --- plain commands (orcha's own: kill, ps, stat) ------------------------------------------------------

    async def _exec(self, argv: Sequence[str], *, input: bytes | None = None) -> CommandResult:
        """Run ``argv`` directly (no wrapper), collecting its output; for short commands of orcha's own."""
        conn = await self.connection()
        command = shlex.join([str(a) for a in argv])
        try:
            result = await _aio(conn.run, command, input=input, encoding=None, check=False)
        except (OSError, asyncssh.Error) as exc:
            self.drop()
            raise SSHError(f"lost the connection to {self.spec.destination} running {argv[0]}: {exc}") from exc
        code = result.exit_status if result.exit_status is not None else -1
        out = result.stdout if isinstance(result.stdout, bytes) else (result.stdout or "").encode()
        err = result.stderr if isinstance(result.stderr, bytes) else (result.stderr or "").encode()
        return CommandResult(
            argv=tuple(argv), exit_code=code, stdout=out.decode(errors="replace"), stderr=err.decode(errors="replace")
        )

    async def group_members(self, pgid: int) -> list[int]:
        """The live (not zombie) processes of remote group ``pgid``, seen over the connection."""
        result = (await self._exec(["ps", "-A", "-o", "pid=,pgid=,stat="])).check()
        members = []
        for line in result.stdout.splitlines():
            words = line.split()
            if len(words) == 3 and words[1] == str(pgid) and not words[2].startswith("Z"):
                members.append(int(words[0]))
        return members

    async def kill_group(self, pgid: int, *, grace: float | None = None) -> bool:
        """SIGTERM remote group ``pgid``, SIGKILL what is left after ``grace``, and check that nothing of it is
        left; ``True`` when it is gone. Never a pid of 1 or less."""
        if pgid <= 1:
            raise CommandError(f"refusing to signal process group {pgid}")
        grace = self.grace if grace is None else grace
        for sig, wait in (("TERM", grace), ("KILL", self.verify)):
            await self._exec(["kill", f"-{sig}", "--", f"-{pgid}"])
            with trio.move_on_after(wait):
                while await self.group_members(pgid):  # noqa: ASYNC110 - remote /proc has no event to wait on
                    await trio.sleep(POLL)
                return True
        return not await self.group_members(pgid)

    async def identity(self, pgid: int, *, kind: str, tmux_session: str | None = None) -> ProcessIdentity:
        out = (await self._exec(identity_argv(pgid))).check().stdout
        return parse_identity(out, pgid, kind=kind, tmux_session=tmux_session)

    # --- the executor contract -----------------------------------------------------------------------------

    async def _spawn(self, argv: Sequence[str], cwd: str | None, *, gated: bool, stderr: Any) -> Any:
        conn = await self.connection()
        command = remote_command([str(a) for a in argv], cwd=cwd, gated=gated)
        try:
            return await _aio(conn.create_process, command, encoding=None, stderr=stderr)
        except (OSError, asyncssh.Error) as exc:
            self.drop()
            raise SSHError(f"cannot start {argv[0]!r} on {self.spec.destination}: {exc}") from exc

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
        txguard.ensure_no_transaction(f"running {command[0]} on {self.name}")
        block = env_block(env)
        out, err = _Lines("stdout", on_line), _Lines("stderr", on_line)
        process = await self._spawn(command, cwd, gated=False, stderr=asyncssh.PIPE)
        pgid: int | None = None
        try:
            process.stdin.write(block + (input or b""))
            process.stdin.write_eof()
            pgid = await _read_pgid(process)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_pump, process.stdout, out)
                nursery.start_soon(_pump, process.stderr, err)
            await _aio(process.wait)
        except BaseException:
            with trio.CancelScope(shield=True):
                if pgid is not None:
                    with contextlib.suppress(CommandError):
                        await self.kill_group(pgid)
                process.close()
            raise
        out.close()
        err.close()
        if process.exit_status is None and process.exit_signal is None:
            self.drop()
            raise SSHError(f"lost the connection to {self.spec.destination} while {command[0]} ran")
        code = process.returncode if process.returncode is not None else -1
        return CommandResult(argv=tuple(command), exit_code=code, stdout=out.text(), stderr=err.text())

    async def start(
        self,
        argv: Sequence[str],
        *,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        before_exec: ProcessRecorder | None = None,
        input: bytes = b"",
    ) -> SSHRunningCommand:
        command = [str(a) for a in argv]
        txguard.ensure_no_transaction(f"starting {command[0]} on {self.name}")
        block = env_block(env)
        stderr_tail = StderrTail()
        process = await self._spawn(command, cwd, gated=before_exec is not None, stderr=stderr_tail)
        running: SSHRunningCommand | None = None
        try:
            process.stdin.write(block)
            pgid = await _read_pgid(process)
            running = SSHRunningCommand(self, process, pgid, stderr_tail, command)
            if before_exec is not None:
                await before_exec(await self.identity(pgid, kind="headless"))
                process.stdin.write(b"\n" + input)  # the wrapper lets the program run, its input after the line
                await _aio(process.stdin.drain)
            elif input:
                process.stdin.write(input)
                await _aio(process.stdin.drain)
        except BaseException:
            with trio.CancelScope(shield=True):
                if running is not None:
                    await running.kill(grace=self.grace)
                else:
                    process.close()
            raise
        return running

    async def make_private_dir(self, path: str) -> None:
        script = (
            'mkdir -p -m 700 -- "$1" || exit 1; [ -L "$1" ] && { echo "$1 is a link"; exit 2; }; '
            'set -- "$1" $(stat -c "%u %a" -- "$1"); [ "$2" = "$(id -u)" ] || { echo "$1 is not yours"; exit 2; }; '
            'case "$3" in *[2367]?|*?[2367]) echo "$1 is writable by others (mode $3)"; exit 2;; esac; '
            'chmod 700 -- "$1"'
        )
        result = await self._exec(["sh", "-c", script, "orcha", path])
        if not result.ok:
            why = (result.stdout + result.stderr).strip().splitlines()
            raise CommandError(
                f"cannot use the private folder {path} on {self.name}: {why[-1] if why else result.exit_code}"
            )

    async def write_private_file(self, path: str, data: bytes) -> None:
        folder = path.rsplit("/", 1)[0] or "/"
        await self.make_private_dir(folder)
        flags = asyncssh.FXF_WRITE | asyncssh.FXF_CREAT | asyncssh.FXF_EXCL
        try:
            async with self._sftp_file(path, flags, asyncssh.SFTPAttrs(permissions=0o600)) as handle:
                await _aio(handle.write, data)
        except asyncssh.SFTPError as exc:
            raise CommandError(f"cannot create the private file {path} on {self.name}: {exc.reason}") from exc
        except (OSError, asyncssh.Error) as exc:
            self.drop()
            raise SSHError(f"cannot write {path} on {self.name}: {exc}") from exc

    @contextlib.asynccontextmanager
    async def _sftp_file(self, path: str, flags: int | str, attributes: asyncssh.SFTPAttrs) -> AsyncIterator[Any]:
        """A file of the target opened over an SFTP session of the pooled connection (both closed after)."""
        conn = await self.connection()
        sftp = await _aio(conn.start_sftp_client)
        try:
            handle = await _aio(sftp.open, path, flags, attributes, encoding=None)
            try:
                yield handle
            finally:
                await _aio(handle.close)
        finally:
            sftp.exit()

    async def remove_file(self, path: str) -> None:
        await self._exec(["rm", "-f", "--", path])

    async def copy_out(self, remote_path: str, local_path: str) -> None:
        """Copy the file ``remote_path`` of the target to a new private file ``local_path`` of this machine
        (its folder made private first; an existing file or link there is refused, never written through)."""
        try:
            async with self._sftp_file(remote_path, "rb", asyncssh.SFTPAttrs()) as handle:
                data = await _aio(handle.read)
        except asyncssh.SFTPError as exc:
            raise CommandError(f"cannot copy {remote_path} from {self.name}: {exc.reason}") from exc
        except (OSError, asyncssh.Error) as exc:
            self.drop()
            raise SSHError(f"cannot copy {remote_path} from {self.name}: {exc}") from exc
        private.create_private_file(local_path, data)


def _record_host_key(path: str, pattern: str, key: asyncssh.SSHKey) -> None:
    """Append ``pattern key`` to the known_hosts file ``path`` (created 0600, its folder 0700)."""
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, mode=0o700, exist_ok=True)
    line = f"{pattern} {key.export_public_key('openssh').decode().strip()}\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "a") as file:
        file.write(line)


async def _read_pgid(process: Any) -> int:
    line = await _aio(process.stdout.readline)
    text = line.decode(errors="replace").strip() if isinstance(line, bytes) else str(line).strip()
    if not text.isdigit():
        raise SSHError(f"the remote wrapper did not report its process group (said {text[:100]!r})")
    return int(text)


async def _pump(stream: Any, lines: _Lines) -> None:
    while True:
        chunk = await _aio(stream.read, 65536)
        if not chunk:
            lines.close()
            return
        lines.feed(chunk)


STDERR_KEPT = 64 * 1024


class StderrTail:
    """Where asyncssh writes a started command's stderr: the last :data:`STDERR_KEPT` bytes, in memory."""

    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, data: bytes) -> None:
        self.data += data
        if len(self.data) > 2 * STDERR_KEPT:
            del self.data[:-STDERR_KEPT]

    def close(self) -> None:
        """asyncssh calls it at end of file; the tail stays readable."""

    def fileno(self) -> int:
        raise OSError("in memory")  # asyncssh then treats it as a plain file-like object


class SSHRunningCommand:
    """A command started by :meth:`SSHExecutor.start`, in remote process group ``pgid``."""

    def __init__(self, executor: SSHExecutor, process: Any, pgid: int, stderr: StderrTail, argv: list[str]) -> None:
        self._executor = executor
        self._process = process
        self.pgid = pgid
        self._stderr = stderr
        self.argv = argv
        self._stdin_closed = False
        self._killed = False

    @property
    def pid(self) -> int:
        return self.pgid

    def lines(self) -> Batches[str]:
        lines = _Lines("stdout", None)
        ended = False

        async def step() -> list[str] | None:
            nonlocal ended
            if ended:
                return None
            try:
                chunk = await _aio(self._process.stdout.read, 65536)
            except (OSError, asyncssh.Error):
                chunk = b""
            if not chunk:
                ended = True
                rest = lines.close()
                return rest or None
            return lines.feed(chunk)

        return Batches(step)

    async def send(self, data: bytes) -> None:
        if self._stdin_closed or self._process.is_closing():
            raise CommandError(f"{self.argv[0]} is no longer reading its input")
        try:
            self._process.stdin.write(data)
            await _aio(self._process.stdin.drain)
        except (OSError, asyncssh.Error, BrokenPipeError) as exc:
            raise CommandError(f"{self.argv[0]} is no longer reading its input") from exc

    async def close_stdin(self) -> None:
        if not self._stdin_closed:
            self._stdin_closed = True
            with contextlib.suppress(OSError, asyncssh.Error):
                self._process.stdin.write_eof()
            await trio.lowlevel.checkpoint()

    async def wait(self) -> int:
        await _aio(self._process.wait)
        code = self._process.returncode
        return code if code is not None else -1

    async def kill(self, grace: float = 2.0, *, drain: float = 0.0) -> None:
        with trio.CancelScope(shield=True):
            await self.close_stdin()
            if drain > 0:
                with trio.move_on_after(drain):
                    await _aio(self._process.wait)
            if not self._killed:
                self._killed = True
                with contextlib.suppress(CommandError):
                    await self._executor.kill_group(self.pgid, grace=grace)
            self._process.close()

    def stderr_tail(self, limit: int = 4000) -> str:
        return bytes(self._stderr.data[-limit:]).decode("utf-8", errors="replace")


class SSHExecutors:
    """One :class:`SSHExecutor` per SSH target (a new one when its connection fields change); close them all
    with :meth:`aclose` before the asyncio loop ends."""

    def __init__(self, *, grace: float = 3.0, on_unreachable: Callable[[str, str], None] | None = None) -> None:
        self.grace = grace
        self.on_unreachable = on_unreachable
        """Told ``(target id, why)`` when a target cannot be reached after every retry."""
        self.forward_to: int | None = None
        """orcha's port on this machine, forwarded to each target (set once the server listens)."""
        self._executors: dict[str, SSHExecutor] = {}

    def for_target(self, target: Target) -> SSHExecutor:
        spec = SSHSpec.of(target)
        current = self._executors.get(target.id)
        if current is None or current.spec != spec:
            if current is not None:
                current.drop()
            target_id = target.id

            def unreachable(reason: str) -> None:
                if self.on_unreachable is not None:
                    self.on_unreachable(target_id, reason)

            current = self._executors[target.id] = SSHExecutor(spec, grace=self.grace, on_unreachable=unreachable)
        current.forward_to = self.forward_to
        return current

    async def aclose(self) -> None:
        for executor in list(self._executors.values()):
            await executor.aclose()
        self._executors.clear()
