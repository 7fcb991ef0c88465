"""``python -m orcha.cli.fake_tui``: the fake agent TUI program, run in a tmux pane (its parts:
:mod:`orcha.agents.fake_tui`; it lives here because it wires them to the MCP client of :mod:`orcha.web`)."""

from __future__ import annotations

import argparse
import sys

import trio

from orcha.agents.fake_tui.player import Identity, Player
from orcha.agents.fake_tui.progress import FileProgress
from orcha.agents.fake_tui.terminal import Terminal
from orcha.agents.pane_reports import report
from orcha.model import SessionRole
from orcha.web.mcp_client import McpConfigError, McpTools, read_mcp_config

LINGER_SECONDS = 30.0
"""How long a TUI that cannot start stays up (so orcha reads why, and what it types lands), unless its
input ends first."""


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m orcha.cli.fake_tui", description="orcha's fake agent TUI")
    parser.add_argument("--session", required=True, help="the session id")
    parser.add_argument("--objective", required=True, help="the objective id")
    parser.add_argument("--role", required=True, choices=[str(r) for r in SessionRole])
    parser.add_argument("--agent", default="fake", help="the agent name it stands in for")
    parser.add_argument("--checkout", help="the session's checkout, where its Edit steps change files")
    parser.add_argument("--mcp-config", help="the private file with the session's MCP url and secret")
    parser.add_argument("--progress", help="the private file where it keeps its place in its script")
    parser.add_argument("--retry-for", type=float, default=120.0, help="seconds to retry while orcha is down")
    return parser.parse_args(argv)


async def run(args: argparse.Namespace, terminal: Terminal) -> int:
    terminal.line(f"╭─ orcha fake agent · {args.agent} · {args.role} · {args.session}")
    terminal.line("╰─ a scripted stand-in for an agent TUI: type a message, then Enter")
    tools = None
    if args.mcp_config:
        try:
            endpoint = read_mcp_config(args.mcp_config)
        except McpConfigError as exc:
            terminal.line(f"✗ {exc}", report("turn", final=str(exc), failed=True))
            await _linger(terminal)
            return 2

        def retrying(attempt: int, delay: float, error: str) -> None:
            terminal.line(f"  ⎿  ⚠ orcha unreachable ({error}); try {attempt + 1} in {delay:g} s")

        tools = McpTools(endpoint, retry_for=args.retry_for, on_retry=retrying)
    identity = Identity(
        session_id=args.session, objective_id=args.objective, role=SessionRole(args.role), agent=args.agent,
        cwd=args.checkout,
    )  # fmt: skip
    player = Player(identity, tools, terminal, progress=FileProgress(args.progress) if args.progress else None)
    player.restore()
    send, receive = trio.open_memory_channel[str](100)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(lambda: terminal.read_inputs(send, busy=lambda: player.busy))
        code = await player.play(receive)
        nursery.cancel_scope.cancel()
    return code


async def _linger(terminal: Terminal) -> None:
    """Wait until the input ends, at most :data:`LINGER_SECONDS`."""
    send, receive = trio.open_memory_channel[str](100)
    with trio.move_on_after(LINGER_SECONDS):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(lambda: terminal.read_inputs(send))
            async for _ in receive:
                pass
            nursery.cancel_scope.cancel()


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    terminal = Terminal()
    try:
        with terminal.keys():
            return trio.run(run, args, terminal)
    except BaseException as exc:  # Ctrl-C reaches trio's tasks, and comes out of a nursery grouped
        if not _interrupted(exc):
            raise
        terminal.write("\n(interrupted)\n" if terminal.editor.buffer else "(interrupted)\n")
        return 130


def _interrupted(exc: BaseException) -> bool:
    if isinstance(exc, BaseExceptionGroup):
        return all(_interrupted(inner) for inner in exc.exceptions)
    return isinstance(exc, KeyboardInterrupt)


if __name__ == "__main__":
    sys.exit(main())
