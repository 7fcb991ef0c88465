"""Every manager gets the manager brief (and every worker its own), whatever its provider."""

from __future__ import annotations

import tomllib

from orcha.agents.briefs import ROLE_BRIEFS
from orcha.agents.claude import ClaudeOptions, claude_argv
from orcha.agents.codex import CodexOptions, CodexProvider, codex_argv
from orcha.model import SessionRole
from tests.agents.conftest import next_turn, read_log, request

MCP = {"mcp_url": "http://127.0.0.1:1/mcp/ses_000000000001", "mcp_token": "s3cret"}


def _developer_instructions(configs: list[str]) -> str:
    [item] = [c for c in configs if c.startswith("developer_instructions=")]
    return tomllib.loads(item)["developer_instructions"]  # codex parses a -c value as TOML


async def test_a_codex_manager_gets_the_manager_brief_on_its_first_turn_and_on_resume(fake_clis):
    provider = CodexProvider()
    manager = request(fake_clis, "plan the port", role=SessionRole.MANAGER, agent="codex", **MCP)
    run = await provider.start(manager)
    first = await next_turn(run.events())
    await run.cancel()
    assert not first[-1].failed
    thread = next(e.provider_session_id for e in first if type(e).__name__ == "ProviderSessionStarted")
    resumed = await provider.resume(manager, thread, "your workers are done")
    await next_turn(resumed.events())
    await resumed.cancel()

    log = read_log(fake_clis, "codex")
    assert len(log) == 2
    for entry in log:
        assert _developer_instructions(entry["options"]["config"]) == ROLE_BRIEFS[SessionRole.MANAGER]
    assert "resume" in log[1]["argv"] and log[1]["argv"].index("-c") < log[1]["argv"].index("resume")
    assert log[0]["prompt"] == "plan the port"  # the brief is configuration, not pasted into the prompt
    assert "spawn_session" in ROLE_BRIEFS[SessionRole.MANAGER]


def test_a_codex_worker_gets_the_worker_brief():
    worker = request("/tmp", role=SessionRole.WORKER, agent="codex", executor=None, **MCP)
    argv = codex_argv(CodexOptions(), worker)
    configs = [argv[i + 1] for i, a in enumerate(argv) if a == "-c"]
    assert _developer_instructions(configs) == ROLE_BRIEFS[SessionRole.WORKER]


def test_the_brief_survives_quotes_and_newlines_as_a_toml_string(monkeypatch):
    import orcha.agents.codex as codex

    tricky = 'say "hi"\n\\ then\ttab — ünïcode'
    monkeypatch.setitem(codex.ROLE_BRIEFS, SessionRole.MANAGER, tricky)
    argv = codex_argv(CodexOptions(), request("/tmp", role=SessionRole.MANAGER, executor=None, **MCP))
    configs = [argv[i + 1] for i, a in enumerate(argv) if a == "-c"]
    assert _developer_instructions(configs) == tricky


def test_claude_and_codex_managers_get_the_same_brief():
    manager = request("/tmp", role=SessionRole.MANAGER, executor=None, **MCP)
    claude = claude_argv(ClaudeOptions(), manager)
    assert f"--append-system-prompt={ROLE_BRIEFS[SessionRole.MANAGER]}" in claude
    codex = codex_argv(CodexOptions(), manager)
    assert (
        _developer_instructions([codex[i + 1] for i, a in enumerate(codex) if a == "-c"])
        == (ROLE_BRIEFS[SessionRole.MANAGER])
    )
