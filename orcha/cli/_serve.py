"""``orcha serve``: the orchestrator, the API, the streams and the dashboard in one trio process."""

from __future__ import annotations

import argparse
import functools
import gc
import logging
import os
import signal
import sys
import time
import urllib.parse
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import trio

from orcha.redact import DEFAULT_REDACTOR

if TYPE_CHECKING:
    from orcha.agents.fake import FakeProgress

log = logging.getLogger("orcha")

FAKE_AGENTS = ("claude", "codex", "shell", "fake")


class _RedactingFilter(logging.Filter):
    """Secrets never reach the log: every record is redacted before it is written."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = DEFAULT_REDACTOR.redact(record.getMessage())
        record.args = None
        return True


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("hypercorn.access", "httpx", "mcp"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


DEFAULT_PORT = 8080


def default_port(environ: Mapping[str, str] = os.environ) -> int:
    """The port to bind when ``--port`` is not given: the one ``$ORCHA_URL`` names (the address the client
    commands talk to, so one variable moves both), else :data:`DEFAULT_PORT`. A URL without a usable port is
    ignored here; the client commands say what is wrong with it."""
    url = environ.get("ORCHA_URL", "").strip()
    if not url:
        return DEFAULT_PORT
    try:
        port = urllib.parse.urlsplit(url).port
    except ValueError:
        return DEFAULT_PORT
    return DEFAULT_PORT if port is None else port


def add_arguments(parser: argparse.ArgumentParser, default_db: str) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    parser.add_argument(
        "--port",
        type=int,
        default=default_port(),
        help="port to bind; 0 picks a free one (default: the port of $ORCHA_URL, else 8080; now %(default)s)",
    )
    parser.add_argument("--db", default=default_db, help="SQLite database file (default: %(default)s)")
    agents = parser.add_mutually_exclusive_group()
    agents.add_argument(
        "--fake-agents",
        dest="real_agents",
        action="store_false",
        default=False,
        help="serve every agent name with the scripted fake provider (the default)",
    )
    agents.add_argument(
        "--real-agents", dest="real_agents", action="store_true", help="drive the real claude / codex CLIs"
    )
    parser.add_argument("--real-forge", action="store_true", help="git + gh instead of the in-memory fake forge")
    parser.add_argument("--tmux", action="store_true", help="run sessions in attachable tmux sessions")
    parser.add_argument(
        "--max-concurrent", type=int, default=8, help="global cap on live workers (default: %(default)s)"
    )
    parser.add_argument(
        "--max-managers",
        type=int,
        default=8,
        help="cap on live managers, which take no worker slot (default: %(default)s)",
    )
    parser.add_argument(
        "--capacity",
        type=int,
        default=4,
        help="worker slots of the local target; a change applies at the next start (default: %(default)s)",
    )
    parser.add_argument(
        "--schedule-interval",
        type=float,
        default=2.0,
        help="idle scheduler tick in seconds; new work wakes it at once (default: 2)",
    )
    parser.add_argument(
        "--workspace-cleanup",
        choices=["keep", "remove"],
        default="keep",
        help="keep finished checkouts (prune them with `orcha workspaces prune`) or remove them at once",
    )
    parser.add_argument(
        "--manager-idle",
        type=float,
        default=600.0,
        metavar="SECONDS",
        help="nudge a manager idle this long with no live workers, then ask the user; 0 turns it off (default: 600)",
    )
    parser.add_argument(
        "--token",
        default=os.environ.get("ORCHA_TOKEN"),
        help="the bearer token every request needs (default: $ORCHA_TOKEN, else the one `orcha token` prints, "
        "generated once and kept in the data directory)",
    )
    parser.add_argument(
        "--no-auth",
        action="store_true",
        help="serve without a token (loopback only; any local user or program can then drive orcha)",
    )
    parser.add_argument(
        "--allowed-host",
        action="append",
        default=[],
        metavar="NAME",
        help="another name or address the Host header may carry (repeatable); loopback names and the bound "
        "address are always allowed",
    )
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])


def check_arguments(args: argparse.Namespace) -> str | None:
    """A clear refusal for arguments orcha cannot serve with, else ``None``."""
    from orcha.web.access import is_loopback, parse_address, split_host

    if not 0 <= args.port <= 65535:
        return f"--port must be between 0 and 65535, not {args.port}"
    if args.max_concurrent < 1:
        return "--max-concurrent must be at least 1"
    if args.max_managers < 1:
        return "--max-managers must be at least 1"
    if args.capacity < 0:
        return "--capacity must be >= 0"
    if args.schedule_interval <= 0:
        return "--schedule-interval must be positive"
    if args.no_auth and not is_loopback(args.host):
        return f"--no-auth is for loopback only; on {args.host} every request needs the token"
    if args.no_auth and args.token:
        return "--no-auth and --token (or $ORCHA_TOKEN) contradict each other: choose one"
    if args.token is not None and (len(args.token) < 16 or any(c.isspace() or not c.isprintable() for c in args.token)):
        return "the token must be at least 16 printable characters without spaces"
    for name in args.allowed_host:
        parsed = split_host(name)
        if parsed is None or parsed[1] is not None or (":" in name and parse_address(name) is None):
            return f"--allowed-host takes a host name or an address without a port, not {name!r}"
    return None


def build_providers(args: argparse.Namespace, progress: FakeProgress | None = None) -> dict[str, Any]:
    """Agent name → provider: the scripted fake for every name, or the real CLIs; in tmux with ``--tmux``.

    The fakes keep their place in their scripts in ``progress`` (the store), so a restart resumes them."""
    from orcha.agents.claude import ClaudeOptions, ClaudeProvider, claude_tui_command
    from orcha.agents.codex import CodexOptions, CodexProvider, codex_tui_command
    from orcha.agents.fake import FakeProvider
    from orcha.agents.scripts import default_script
    from orcha.agents.tmux import TmuxProvider

    if not args.real_agents:
        if args.tmux:  # the scripted fake as a TUI in an attachable pane; `shell` is a shell
            from orcha.agents.fake_tui.command import fake_tui_provider

            return {
                name: TmuxProvider(name=name) if name == "shell" else fake_tui_provider(name) for name in FAKE_AGENTS
            }
        return {
            name: FakeProvider(default_script, name=name, interactive=name != "codex", progress=progress)
            for name in FAKE_AGENTS
        }
    env = os.environ
    clis = agent_clis(args)
    claude, codex = clis["claude"] or "claude", clis["codex"] or "codex"
    claude_options = ClaudeOptions(
        binary=claude,
        model=env.get("ORCHA_CLAUDE_MODEL") or None,
        permission_mode=env.get("ORCHA_CLAUDE_PERMISSION_MODE") or "bypassPermissions",
        allowed_tools=tuple(t for t in (env.get("ORCHA_CLAUDE_ALLOWED_TOOLS") or "").split(",") if t),
        max_turns=int(env["ORCHA_CLAUDE_MAX_TURNS"]) if env.get("ORCHA_CLAUDE_MAX_TURNS") else None,
    )
    codex_options = CodexOptions(binary=codex, model=env.get("ORCHA_CODEX_MODEL") or None)
    if args.tmux:  # the TUIs, attachable, with the same MCP flags as headless sessions
        return {
            "claude": TmuxProvider(name="claude", command=functools.partial(claude_tui_command, claude_options)),
            "codex": TmuxProvider(name="codex", command=functools.partial(codex_tui_command, codex_options)),
            "shell": TmuxProvider(name="shell"),
        }
    return {
        "claude": ClaudeProvider(claude_options),
        "codex": CodexProvider(codex_options),
        "shell": TmuxProvider(name="shell"),
    }


def agent_clis(args: argparse.Namespace) -> dict[str, str | None]:
    """Agent name → the binary its provider runs (``$ORCHA_CLAUDE``, ``$ORCHA_CODEX``, else the plain name on
    PATH), ``None`` for an agent that needs no CLI of its own: what the local doctor looks for."""
    if not args.real_agents:
        return dict.fromkeys(FAKE_AGENTS)
    env = os.environ
    return {"claude": env.get("ORCHA_CLAUDE") or "claude", "codex": env.get("ORCHA_CODEX") or "codex", "shell": None}


def serve(args: argparse.Namespace) -> int:
    from orcha.io.private import data_dir, ensure_private_dir, runtime_dir, state_dir
    from orcha.io.token import load_or_create_token

    args.token = (args.token or "").strip() or None
    problem = check_arguments(args)
    if problem is not None:
        print(f"orcha serve: {problem}", file=sys.stderr)
        return 2
    for folder in (data_dir(), state_dir(), runtime_dir()):
        ensure_private_dir(folder)  # a clear refusal now (an OrchaError) rather than each session failing later
    if not args.no_auth and args.token is None:
        args.token = load_or_create_token()  # refused the same way if the file is not private
    args.mcp_key = load_or_create_token(data_dir() / "mcp-key").encode()  # sessions' MCP secrets derive from it
    configure_logging(args.log_level)
    if args.token:
        DEFAULT_REDACTOR.add_secret(args.token)
    else:
        log.warning("serving WITHOUT authentication (--no-auth): any local user or program can drive orcha")
    from orcha.io.dblock import hold_database_lock

    try:
        with hold_database_lock(args.db):  # a DatabaseInUseError (an OrchaError) names the other server
            trio.run(_serve, args)
    except OSError as exc:
        print(f"orcha serve: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except BaseExceptionGroup as group:
        bind_errors, rest = group.split(OSError)
        if bind_errors is None or rest is not None:
            raise
        first = _first_leaf(bind_errors)
        print(f"orcha serve: cannot listen on {args.host}:{args.port}: {first}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


def tune_collector() -> None:
    """The garbage collector's settings for a server, called once it is built, before its actors start.

    What was made until then (modules, the app, the stores) lives as long as the process, so it is frozen out
    of every collection (an actor is not: a frozen object is never freed, even once unreachable). What survives
    a young collection is mostly the live sessions' waiting coroutines and cancel scopes, which refcounting
    frees in time, so the middle generation is collected less often: after 100 young collections instead of
    10 (each walks them all for nothing: 50-70 ms at 2,000 sessions, figure 6), a full collection after 10 of
    the middle one's. The young generation is collected at 2,000 allocations instead of 700: at 10,000 each
    young collection took 5-7 ms at figure 6's load (most of its p99), at 2,000 about 1 ms. Measured in
    figure 6 before the first change: full collections of 200-300 ms while sessions were being placed."""
    gc.freeze()
    gc.set_threshold(2_000, 100, 10)


def loopback_port(url: str) -> int | None:
    """The port of ``url`` when it is on 127.0.0.1 (what SSH targets get forwarded to them), else ``None``."""
    prefix = "http://127.0.0.1:"
    port = url.removeprefix(prefix).rstrip("/")
    return int(port) if url.startswith(prefix) and port.isdigit() else None


def login_url(base: str, token: str | None) -> str:
    """The URL that logs a browser in (it sets the login cookie); the plain URL without a token."""
    return f"{base}/?token={quote(token, safe='')}" if token else f"{base}/"


def _first_leaf(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return exc


async def _serve(args: argparse.Namespace) -> None:
    from orcha.actors.orchestrator import LocalTarget, Orchestrator, OrchestratorConfig
    from orcha.agents.registry import ProviderRegistry
    from orcha.doctor import doctor_by_kind
    from orcha.forge import FakeForge
    from orcha.io.doctor import local_doctor
    from orcha.io.gateway import StoreGateway
    from orcha.io.git_forge import GitForge
    from orcha.io.local_executor import LocalExecutor
    from orcha.io.local_processes import LocalProcesses
    from orcha.io.ssh_doctor import ssh_doctor
    from orcha.io.ssh_executor import SSHExecutors, open_ssh_loop
    from orcha.io.ssh_processes import SSHProcesses
    from orcha.io.store import Store
    from orcha.model import SessionStatus, TargetKind
    from orcha.processes import database_mark
    from orcha.serve_mode import ServeModeError, mode_conflict
    from orcha.web.access import AccessPolicy
    from orcha.web.app import create_asgi
    from orcha.web.context import WebContext
    from orcha.web.server import serve_web

    started = time.monotonic()
    store = Store(args.db)
    live = [status for status in SessionStatus if not status.is_terminal]  # (history is not read at start)
    conflict = mode_conflict(store.list_sessions(statuses=live), tmux=args.tmux)
    if conflict is not None:  # before anything starts: the database is left as it was
        store.close()
        raise ServeModeError(conflict)
    reader = Store(args.db, readonly=True)
    fakes_state = Store(args.db)  # the fake forge's PRs and the fake agents' places, durable across restarts
    forge_state = None if args.real_forge else fakes_state
    providers = build_providers(args, progress=fakes_state)
    config = OrchestratorConfig(
        max_concurrent=args.max_concurrent,
        max_managers=args.max_managers,
        schedule_interval=args.schedule_interval,
        local_target=LocalTarget(capacity_sessions=args.capacity),  # checkouts under <data dir>/work
        workspace_cleanup=args.workspace_cleanup,
        manager_idle_seconds=args.manager_idle if args.manager_idle > 0 else None,
        mcp_key=args.mcp_key,
    )
    mark = database_mark(args.db)  # its agents carry it: a crashed orcha's are found at the next start
    executor = LocalExecutor(mark=mark)
    ssh_executors = SSHExecutors()
    remote_clis = {name: (None if binary is None else name) for name, binary in agent_clis(args).items()}
    orchestrator = Orchestrator(
        db=StoreGateway(store, on_loop=True),  # short calls on the loop: see orcha/io/gateway.py
        providers=ProviderRegistry(providers, fallback_order=("claude", "codex")),
        forge=GitForge(local=executor) if forge_state is None else FakeForge(state=forge_state),
        local_executor=executor,
        processes=LocalProcesses(executor, mark=mark),
        ssh_executor=ssh_executors.for_target,
        ssh_processes=lambda target: SSHProcesses(ssh_executors.for_target(target)),
        doctor=doctor_by_kind(
            {
                TargetKind.LOCAL: local_doctor(
                    fake_agents=not args.real_agents,
                    real_forge=args.real_forge,
                    agent_clis=agent_clis(args),
                    gh=os.environ.get("ORCHA_GH") or "gh",
                ),
                TargetKind.SSH: ssh_doctor(
                    ssh_executors, fake_agents=not args.real_agents, real_forge=args.real_forge, agent_clis=remote_clis
                ),
            }
        ),
        config=config,
        clock=time.time,
    )
    ssh_executors.on_unreachable = orchestrator.target_unreachable
    context = WebContext(
        operations=orchestrator.operations,
        changes=orchestrator.changes,
        agents=orchestrator,
        reader=StoreGateway(reader),
        token=args.token,
    )
    policy = AccessPolicy(token=args.token, bind_host=args.host, allowed_hosts=tuple(args.allowed_host))
    app = create_asgi(context, policy)
    try:
        # signals are caught from before the tree starts, so a SIGTERM right after "ready" is a clean stop
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async with open_ssh_loop():  # the process's one asyncio loop, for asyncssh
                try:
                    async with trio.open_nursery() as nursery:
                        tune_collector()  # before any actor: what is frozen now lives as long as the process
                        await nursery.start(functools.partial(orchestrator.run, hold_services=True))
                        urls = await nursery.start(functools.partial(serve_web, app, host=args.host, port=args.port))
                        orchestrator.mcp.base_url = urls[0]
                        ssh_executors.forward_to = loopback_port(urls[0])  # agents on SSH targets reach MCP
                        orchestrator.start_services()  # sessions start now: each with its MCP endpoint
                        log.info(
                            "orcha is ready in %.2fs: dashboard on %s (database %s, %s agents%s, %s)",
                            time.monotonic() - started,
                            urls[0],
                            args.db,
                            "real" if args.real_agents else "fake",
                            " in tmux" if args.tmux else "",
                            "git + gh forge" if args.real_forge else "fake forge",
                        )
                        print(f"orcha: dashboard on {login_url(urls[0], args.token)}", file=sys.stderr, flush=True)
                        async for received in signals:
                            log.info("received %s: shutting down", signal.Signals(received).name)
                            nursery.cancel_scope.cancel()
                            break
                finally:
                    with trio.CancelScope(shield=True):  # the connections close on the loop they use
                        await ssh_executors.aclose()
    finally:
        fakes_state.close()
        reader.close()  # the writer closes last, so it checkpoints the WAL into the database file
        store.close()
