"""Real tmux: a shell session streams into the transcript, steering types into it, cancel kills it all."""

from __future__ import annotations

import re
import shutil

import pytest
import trio

from orcha.agents.contract import ProviderSessionStarted, TextOut
from orcha.agents.tmux import TmuxController, TmuxProvider, clean, session_name
from orcha.io.local_executor import LocalExecutor
from tests.agents.conftest import request
from tests.procs import is_dead

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (scripts/test installs it)")


async def _until_line(events, pattern: str, within: float = 10) -> list[str]:
    seen = []
    with trio.fail_after(within):
        async for event in events:
            if isinstance(event, TextOut):
                seen.append(event.text)
                if re.search(pattern, event.text):
                    return seen
    raise AssertionError(f"no line matched {pattern!r}: {seen}")


async def test_a_shell_session_streams_steers_snapshots_and_dies_whole(tmp_path):
    provider = TmuxProvider(log_dir=str(tmp_path / "logs"))
    req = request(tmp_path, "echo hello-$((40+2))", session_id="ses_tmux00000001")
    name = session_name(req.session_id)
    run = await provider.start(req)
    events = run.events()
    try:
        started = await events.__anext__()
        assert isinstance(started, ProviderSessionStarted)
        assert started.attach_command == f"tmux attach -t {name}"
        await _until_line(events, r"^hello-42$")

        await run.send("echo steered-$((1+1)); sleep 1000 & echo pid=$!")
        lines = await _until_line(events, r"^pid=\d+$")
        pid = int(lines[-1].split("=")[1])
        assert "steered-2" in lines
        assert "steered-2" in await run.snapshot()
        assert await TmuxController(LocalExecutor()).has_session(name)
    finally:
        await run.cancel()
    assert not await TmuxController(LocalExecutor()).has_session(name)
    await trio.sleep(0.2)
    assert is_dead(pid)


async def test_the_program_exiting_completes_the_turn(tmp_path):
    provider = TmuxProvider(program=("sh", "-c", "echo bye; exit 3"), log_dir=str(tmp_path / "logs"))
    run = await provider.start(request(tmp_path, "", session_id="ses_tmux00000002"))
    with trio.fail_after(10):
        events = [e async for e in run.events()]
    await run.cancel()
    assert any(isinstance(e, TextOut) and e.text == "bye" for e in events)
    assert events[-1].failed and "(3)" in events[-1].final_text


def test_terminal_escapes_are_cleaned():
    assert clean("\x1b[1;32mgreen\x1b[0m\r") == "green"
    assert clean("\x1b]0;title\x07prompt$ ls") == "prompt$ ls"


async def test_agent_tuis_in_tmux_get_the_same_mcp_flags_without_secrets_on_the_command_line(tmp_path):
    import os
    import shlex

    from orcha.agents.claude import ClaudeOptions, claude_tui_command
    from orcha.agents.codex import CodexOptions, codex_tui_command
    from orcha.model import SessionRole

    req = request(
        tmp_path,
        "p",
        role=SessionRole.MANAGER,
        mcp_url="http://127.0.0.1:9/mcp/ses_000000000001",
        mcp_token="tok-s3cret-123456",
    )
    claude = (await claude_tui_command(ClaudeOptions(config_dir=str(tmp_path / "mcp")), req)).argv
    assert "-p" not in claude and "stream-json" not in claude
    assert "--strict-mcp-config" in claude and "--allowedTools=mcp__orcha" in claude
    [config] = [a.split("=", 1)[1] for a in claude if a.startswith("--mcp-config=")]
    assert oct(os.stat(config).st_mode & 0o777) == "0o600"
    assert any(a.startswith("--append-system-prompt=You are the manager") for a in claude)
    codex = (await codex_tui_command(CodexOptions(config_dir=str(tmp_path / "mcp")), req)).argv
    joined = shlex.join(codex)
    assert "tok-s3cret-123456" not in joined and "tok-s3cret-123456" not in " ".join(claude)
    assert 'mcp_servers.orcha.url="http://127.0.0.1:9/mcp/ses_000000000001"' in joined
    assert "exec" in codex[-1] and "--json" not in joined
