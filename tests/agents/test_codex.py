"""The Codex provider against a protocol-faithful fake `codex`: one process per turn, resume-based steering."""

from __future__ import annotations

import subprocess

import pytest
import trio

from orcha.agents.codex import CodexOptions, CodexProvider, codex_argv
from orcha.agents.contract import Exhausted, ProviderSessionStarted, TextOut, ToolCall, TurnCompleted, UsageReport
from tests.agents.conftest import next_turn, read_log, request
from tests.gitfixtures import FAKE_GH


async def test_a_turn_then_resume_carries_the_thread_and_its_context(fake_clis):
    provider = CodexProvider()
    assert not provider.capabilities.interactive
    run = await provider.start(request(fake_clis, "build the parser"))
    first = await next_turn(run.events())
    [thread] = [e.provider_session_id for e in first if isinstance(e, ProviderSessionStarted)]
    assert any(isinstance(e, ToolCall) and e.name == "shell" and e.arguments["command"] == "ls" for e in first)
    assert any(isinstance(e, ToolCall) and e.name == "file_change" for e in first)
    [usage] = [e for e in first if isinstance(e, UsageReport)]
    assert (usage.input_tokens, usage.output_tokens, usage.model_calls) == (1000, 50, 1)
    assert first[-1] == TurnCompleted(final_text="turn 1: build the parser (first prompt: build the parser)")
    with pytest.raises(RuntimeError, match="not interactive"):
        await run.send("more")
    await run.cancel()

    resumed = await provider.resume(request(fake_clis), thread, "now add tests")
    second = await next_turn(resumed.events())
    await resumed.cancel()
    assert [e.provider_session_id for e in second if isinstance(e, ProviderSessionStarted)] == [thread]
    assert second[-1].final_text == "turn 2: now add tests (first prompt: build the parser)"  # context carried over

    log = read_log(fake_clis, "codex")
    assert [entry["prompt"] for entry in log] == ["build the parser", "now add tests"]
    argv = log[1]["argv"]
    assert argv[argv.index("resume") + 1] == thread and argv[-1] == "-"
    assert argv.index("--sandbox") < argv.index("resume") and "--full-auto" not in argv
    assert log[0]["options"]["C"] == str(fake_clis)


async def test_the_usage_limit_is_exhaustion_with_the_reset_from_the_log(fake_clis):
    run = await CodexProvider().start(request(fake_clis, "usage-limit"))
    events = [e async for e in run.events()]
    [exhausted] = [e for e in events if isinstance(e, Exhausted)]
    assert "hit your usage limit" in exhausted.message and not exhausted.billing
    assert exhausted.resets_at is not None and exhausted.resets_at > 1_700_000_000
    assert not any(isinstance(e, TurnCompleted) for e in events)


async def test_a_failed_turn_and_a_crash_fail_the_turn(fake_clis):
    run = await CodexProvider().start(request(fake_clis, "please fail"))
    events = [e async for e in run.events()]
    assert events[-1] == TurnCompleted(final_text="boom", failed=True)
    run = await CodexProvider().start(request(fake_clis, "crash"))
    events = [e async for e in run.events()]
    assert events[-1].failed and "exited 1" in events[-1].final_text


async def test_an_unknown_thread_fails_clearly(fake_clis):
    run = await CodexProvider().resume(request(fake_clis), "0000-no-such-thread", "hello?")
    events = [e async for e in run.events()]
    assert events[-1].failed and "no rollout found" in events[-1].final_text


async def test_the_fake_catches_a_stdin_left_open(fake_clis):
    """What the provider avoids: with stdin open, codex (and this fake) waits forever."""
    process = await trio.lowlevel.open_process(
        [str(FAKE_GH.parent / "codex"), "exec", "--json", "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        with trio.move_on_after(1.5) as waited:
            await process.wait()
        assert waited.cancelled_caught  # still hanging on stdin
    finally:
        process.kill()
        await process.wait()
    run = await CodexProvider().start(request(fake_clis, "quick"))  # the provider closes stdin: no hang
    with trio.fail_after(10):
        assert (await next_turn(run.events()))[-1].final_text.startswith("turn 1: quick")
    await run.cancel()


def test_mcp_goes_through_config_overrides():
    from tests.agents.test_claude import request_for_manager

    argv = codex_argv(CodexOptions(model="gpt-5"), request_for_manager())
    configs = [argv[i + 1] for i, a in enumerate(argv) if a == "-c"]
    assert 'mcp_servers.orcha.url="http://127.0.0.1:1/mcp/ses_1"' in configs
    assert 'mcp_servers.orcha.bearer_token_env_var="ORCHA_MCP_TOKEN"' in configs
    assert "s3cret" not in " ".join(argv)  # the secret goes through the environment, not argv


async def test_text_is_reported(fake_clis):
    run = await CodexProvider().start(request(fake_clis, "say hi"))
    events = await next_turn(run.events())
    await run.cancel()
    assert any(isinstance(e, TextOut) and "say hi" in e.text for e in events)


async def test_the_codex_process_is_recorded_before_it_runs_and_still_reads_its_prompt_to_the_end(fake_clis):
    recorded = []

    async def record(identity) -> None:
        assert read_log(fake_clis, "codex") == []  # held at the gate
        recorded.append(identity)

    run = await CodexProvider().start(request(fake_clis, "build the parser", record_process=record))
    try:
        events = await next_turn(run.events())
    finally:
        await run.cancel()
    assert events[-1] == TurnCompleted(final_text="turn 1: build the parser (first prompt: build the parser)")
    assert [entry["prompt"] for entry in read_log(fake_clis, "codex")] == ["build the parser"]
    [identity] = recorded
    assert identity.kind == "headless" and identity.boot_id
