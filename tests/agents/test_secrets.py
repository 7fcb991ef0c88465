"""The agents' MCP secrets: a private file per agent process, never written through a planted link, gone once
the process stops (completed, failed, canceled, killed, or orcha stopping)."""

from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import stat
import types

import pytest
import trio

from orcha.agents import private_files
from orcha.agents.claude import ClaudeOptions, ClaudeProvider
from orcha.agents.codex import CodexOptions, codex_tui_command
from orcha.agents.tmux import TmuxProvider
from orcha.errors import OrchaError
from orcha.io.local_executor import LocalExecutor
from orcha.model import SessionRole, SessionStatus
from orcha.paths import secrets_dir
from tests.actors.harness import running, store_of
from tests.agents.conftest import read_log, request

S = SessionStatus
TOKEN = "tok-s3cret-0123456789"


def manager_request(tmp_path, prompt: str = "hello", **overrides):
    return request(
        tmp_path,
        prompt,
        role=SessionRole.MANAGER,
        mcp_url="http://127.0.0.1:9/mcp/ses_000000000001",
        mcp_token=TOKEN,
        **overrides,
    )


def secret_files() -> list[str]:
    folder = secrets_dir()
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


async def until(check, within: float = 30) -> None:
    with trio.fail_after(within):
        while not check():  # noqa: ASYNC110 - polling real processes is the point
            await trio.sleep(0.05)


async def test_a_claude_process_gets_a_private_config_that_is_removed_when_it_stops(fake_clis):
    run = await ClaudeProvider().start(manager_request(fake_clis))
    try:
        [name] = secret_files()
        path = os.path.join(secrets_dir(), name)
        assert name.startswith("ses_000000000001-") and name.endswith(".json")
        assert stat.S_IMODE(os.stat(secrets_dir()).st_mode) == 0o700
        assert stat.S_IMODE(os.lstat(path).st_mode) == 0o600
        server = json.loads(await trio.Path(path).read_text())["mcpServers"]["orcha"]
        assert server["headers"] == {"Authorization": f"Bearer {TOKEN}"}
    finally:
        await run.cancel()
    assert secret_files() == []
    argv = read_log(fake_clis, "claude")[0]["argv"]
    assert f"--mcp-config={path}" in argv and not any(TOKEN in a for a in argv)


async def test_a_claude_that_cannot_start_leaves_no_secret(fake_clis):
    provider = ClaudeProvider(ClaudeOptions(binary="/nonexistent/claude"))
    with pytest.raises(OrchaError, match="cannot run"):
        await provider.start(manager_request(fake_clis))
    assert secret_files() == []


async def test_a_link_planted_at_the_secret_path_is_refused_and_its_target_untouched(fake_clis, monkeypatch):
    monkeypatch.setattr(private_files, "secrets", types.SimpleNamespace(token_hex=lambda n: "0" * (2 * n)))
    os.makedirs(secrets_dir(), mode=0o700)
    victim = fake_clis / "victim.txt"
    victim.write_text("precious")
    os.symlink(victim, os.path.join(secrets_dir(), "ses_000000000001-000000000000.json"))
    with pytest.raises(OrchaError, match="already exists"):
        await ClaudeProvider().start(manager_request(fake_clis))
    assert victim.read_text() == "precious"
    assert read_log(fake_clis, "claude") == []  # the agent never started


async def test_a_planted_secrets_folder_fails_the_session_clearly(tmp_path, fake_clis):
    elsewhere = tmp_path / "theirs"
    elsewhere.mkdir(mode=0o700)
    os.makedirs(os.path.dirname(secrets_dir()), mode=0o700)
    os.symlink(elsewhere, secrets_dir())
    async with running(tmp_path, providers={"claude": ClaudeProvider()}) as orch:
        orch.mcp.base_url = "http://127.0.0.1:9"
        store = store_of(orch)
        _, manager = await orch.operations.create_objective(title="t", prompt="p", agent="claude")
        await until(lambda: store.get_session(manager.id).status is S.FAILED)
        reason = store.get_session(manager.id).status_reason or ""
    assert "symbolic link" in reason and secrets_dir() in reason
    assert list(elsewhere.iterdir()) == []
    assert read_log(fake_clis, "claude") == []


async def test_secrets_go_when_sessions_are_canceled_killed_or_orcha_stops(tmp_path, fake_clis):
    from tests.web.harness import served

    async with served(tmp_path, providers={"claude": ClaudeProvider()}) as srv:
        orch, store = srv.orchestrator, srv.store
        sessions = []
        for title in ("canceled", "killed", "left running"):
            _, manager = await orch.operations.create_objective(title=title, prompt="slow", agent="claude")
            sessions.append(manager.id)
            await until(lambda: len(secret_files()) == len(sessions))
        canceled, killed, _ = sessions
        await until(lambda: len(started(fake_clis)) == 3)

        await orch.operations.cancel_session(canceled, "enough")
        assert len(secret_files()) == 2 and not any(n.startswith(canceled) for n in secret_files())

        [pid] = [pid for pid, config in started(fake_clis).items() if os.path.basename(config).startswith(killed)]
        os.kill(pid, signal.SIGKILL)
        await until(lambda: store.get_session(killed).status is S.FAILED)
        await until(lambda: not any(n.startswith(killed) for n in secret_files()))
    assert secret_files() == []  # orcha stopped: the last live session's secret went with it


def started(tmp_path) -> dict[int, str]:
    """pid → MCP config path of each fake claude process started so far."""
    return {
        entry["pid"]: arg.split("=", 1)[1]
        for entry in read_log(tmp_path, "claude")
        for arg in entry.get("argv", [])
        if arg.startswith("--mcp-config=")
    }


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (scripts/test installs it)")
async def test_a_tui_in_tmux_reads_its_token_from_a_private_file_removed_on_cancel(tmp_path):
    options = CodexOptions(binary="sleep")  # the TUI's command line with a stand-in program
    provider = TmuxProvider(name="codex", command=functools.partial(codex_tui_command, options))
    run = await provider.start(manager_request(tmp_path, "", session_id="ses_tmuxsecret01"))
    try:
        [name] = secret_files()
        path = os.path.join(secrets_dir(), name)
        assert name.endswith(".token") and stat.S_IMODE(os.lstat(path).st_mode) == 0o600
        assert await trio.Path(path).read_text() == TOKEN
    finally:
        await run.cancel()
    assert secret_files() == []


async def test_the_secret_files_a_killed_orcha_left_go_when_their_session_ends(tmp_path):
    from orcha.agents.private_files import remove_leftovers
    from orcha.io.private import create_private_file, ensure_private_dir

    folder = tmp_path / "mcp"
    ensure_private_dir(folder)
    for name in ("ses_a-1f2e.json", "ses_a-77aa.token", "ses_ab-0001.json", "ses_b-0002.json"):
        create_private_file(folder / name, b"secret")
    assert await remove_leftovers(LocalExecutor(), "ses_a", str(folder)) == 2
    assert sorted(os.listdir(folder)) == ["ses_ab-0001.json", "ses_b-0002.json"]  # another session's stay
    assert await remove_leftovers(LocalExecutor(), "ses_a", str(folder)) == 0


def test_with_a_key_a_session_has_the_same_mcp_secret_after_a_restart():
    from orcha.actors.endpoints import McpSecrets

    before, after = McpSecrets(b"k" * 32), McpSecrets(b"k" * 32)
    before.base_url = after.base_url = "http://127.0.0.1:8080"
    _, secret = before.endpoint("ses_1")
    assert secret is not None and len(secret) >= 40
    assert after.secret_of("ses_1") == secret  # a re-adopted pane's agent still gets in
    assert after.endpoint("ses_1") == ("http://127.0.0.1:8080/mcp/ses_1", secret)
    assert after.secret_of("ses_2") != secret
    assert McpSecrets(b"x" * 32).secret_of("ses_1") != secret  # another user's key, another secret
    random = McpSecrets()
    random.base_url = "http://127.0.0.1:8080"
    assert random.secret_of("ses_1") is None and random.endpoint("ses_1")[1] != secret
