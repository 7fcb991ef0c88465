"""How orcha runs the fake agent TUI in a session's tmux pane."""

from __future__ import annotations

import functools
import sys

from orcha.agents.claude import ClaudeOptions, write_mcp_config
from orcha.agents.contract import StartRequest
from orcha.agents.fake_tui.progress import progress_name
from orcha.agents.fake_tui.terminal import TTY_MODES
from orcha.agents.private_files import AgentProgram
from orcha.agents.tmux import TmuxProvider
from orcha.executor import CommandError, remote_state_dir
from orcha.paths import state_dir

MODULE = "orcha.cli.fake_tui"


async def fake_tui_command(request: StartRequest, *, progress_dir: str | None = None) -> AgentProgram:
    """The fake TUI for ``request``'s session, with its MCP config (url and secret) in a new private file,
    as Claude Code's TUI gets it, and its place kept in ``progress_dir`` (default: ``<state dir>/fake-tui``);
    this machine only (the TUI is this Python with this orcha)."""
    if remote_state_dir(request.executor) is not None or request.executor is None:
        raise CommandError("the fake agent TUI runs on this machine only; use --real-agents for SSH targets")
    folder = progress_dir or str(state_dir() / "fake-tui")
    await request.executor.make_private_dir(folder)
    argv = [
        sys.executable, "-m", MODULE, "--session", request.session_id, "--objective", request.objective_id,
        "--role", str(request.role), "--agent", request.agent,
    ]  # fmt: skip
    argv.append(f"--progress={folder}/{progress_name(request)}")
    if request.cwd is not None:  # its Edit steps change files in the session's checkout, as the fake does
        argv.append(f"--checkout={request.cwd}")
    secret = await write_mcp_config(ClaudeOptions(), request)
    if secret is not None:
        argv.append(f"--mcp-config={secret.path}")
    return AgentProgram(argv=tuple(argv), secrets=(secret,) if secret else ())


def fake_tui_provider(name: str, *, log_dir: str | None = None, progress_dir: str | None = None) -> TmuxProvider:
    """A tmux provider for agent ``name`` that runs the fake TUI: it reads what is typed and reports its
    turns in-band, in a pane whose terminal reads keys as it does from the start."""
    command = functools.partial(fake_tui_command, progress_dir=progress_dir)
    return TmuxProvider(name=name, log_dir=log_dir, command=command, reports=True, tty_modes=TTY_MODES)
