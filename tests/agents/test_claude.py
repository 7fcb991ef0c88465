"""The Claude provider against a protocol-faithful fake `claude`: the real provider code path."""

from __future__ import annotations

import json

import pytest
import trio

from orcha.agents.claude import ClaudeOptions, ClaudeParser, ClaudeProvider, claude_argv
from orcha.agents.contract import (
    AgentError,
    Exhausted,
    ProviderSessionStarted,
    TextOut,
    ToolCall,
    ToolResult,
    TurnCompleted,
    UsageReport,
)
from tests.agents.conftest import next_turn, read_log, request
from tests.procs import is_dead


async def test_multi_turn_steering_stays_in_one_process_and_costs_are_cumulative(fake_clis):
    provider = ClaudeProvider()
    run = await provider.start(request(fake_clis, "first task"))
    events = run.events()
    first = await next_turn(events)
    [started] = [e for e in first if isinstance(e, ProviderSessionStarted)]
    assert [e.text for e in first if isinstance(e, TextOut)] == ["ack: first task"]
    assert any(isinstance(e, ToolCall) and e.name == "Bash" for e in first)
    assert any(isinstance(e, ToolResult) and e.output == "README.md\n" for e in first)
    assert [e.cost_total_usd for e in first if isinstance(e, UsageReport)] == [0.01]
    assert first[-1] == TurnCompleted(final_text="done: first task")

    await run.send("now the second part")
    second = await next_turn(events)
    assert [e.cost_total_usd for e in second if isinstance(e, UsageReport)] == [0.02]  # the latest, not a sum
    assert second[-1] == TurnCompleted(final_text="done: now the second part")
    assert {e.provider_session_id for e in second if isinstance(e, ProviderSessionStarted)} == {
        started.provider_session_id
    }
    await run.cancel()

    log = read_log(fake_clis, "claude")
    assert len({entry["pid"] for entry in log}) == 1  # one long-lived process
    assert [entry["stdin"] for entry in log if "stdin" in entry] == ["first task", "now the second part"]
    argv = log[0]["argv"]
    assert {"--input-format", "--output-format", "--verbose", "-p"} <= set(argv)
    assert "--permission-mode=bypassPermissions" in argv
    assert log[0]["cwd"] == str(fake_clis)


async def test_resume_continues_the_conversation_in_a_new_process(fake_clis):
    provider = ClaudeProvider()
    run = await provider.start(request(fake_clis, "remember the number 42"))
    first = await next_turn(run.events())
    psid = next(e.provider_session_id for e in first if isinstance(e, ProviderSessionStarted))
    await run.cancel()
    resumed = await provider.resume(request(fake_clis), psid, "what was the number?")
    second = await next_turn(resumed.events())
    await resumed.cancel()
    assert any(isinstance(e, TextOut) and "remember the number 42" in e.text for e in second)
    assert f"--resume={psid}" in read_log(fake_clis, "claude")[-2]["argv"]


@pytest.mark.parametrize(
    ("prompt", "billing", "has_reset"),
    [("hit the rate-limit", False, True), ("legacy-limit please", False, True), ("billing trouble", True, False)],
)
async def test_usage_limits_are_detected_and_reported_once(fake_clis, prompt, billing, has_reset):
    run = await ClaudeProvider().start(request(fake_clis, prompt))
    events = [e async for e in run.events()]
    await run.cancel()
    exhausted = [e for e in events if isinstance(e, Exhausted)]
    assert len(exhausted) == 1
    assert exhausted[0].billing is billing
    assert (exhausted[0].resets_at is not None) is has_reset
    assert not any(isinstance(e, TurnCompleted) for e in events)


def test_the_http_429_result_signature_is_exhaustion():
    parser = ClaudeParser()
    [event] = parser.parse(
        json.dumps(
            {
                "type": "result",
                "subtype": "success",
                "is_error": True,
                "api_error_status": 429,
                "result": "API Error: Rate limit reached",
            }
        )
    )
    assert isinstance(event, Exhausted) and event.resets_at is None
    assert parser.parse(json.dumps({"type": "rate_limit_event", "rate_limit_info": {"status": "allowed"}})) == []
    assert parser.parse(json.dumps({"type": "some_future_type", "x": 1})) == []
    assert isinstance(parser.parse("{not json")[0], AgentError)


async def test_max_turns_fails_the_turn(fake_clis):
    run = await ClaudeProvider().start(request(fake_clis, "max-turns"))
    events = await next_turn(run.events())
    await run.cancel()
    assert events[-1].failed and "maximum number of turns" in events[-1].final_text


async def test_a_crash_without_a_result_ends_the_stream(fake_clis):
    run = await ClaudeProvider().start(request(fake_clis, "crash now"))
    events = [e async for e in run.events()]
    await run.cancel()
    assert not any(isinstance(e, TurnCompleted) for e in events)


async def test_cancel_kills_a_busy_process(fake_clis):
    run = await ClaudeProvider().start(request(fake_clis, "slow work"))
    events = run.events()
    with trio.move_on_after(1):
        await next_turn(events)
    with trio.fail_after(15):
        await run.cancel()
    assert is_dead(read_log(fake_clis, "claude")[0]["pid"])


def test_argv_for_a_manager_with_mcp_and_resume():
    options = ClaudeOptions(model="opus", max_turns=30, allowed_tools=("Bash", "Edit"))
    argv = claude_argv(options, request_for_manager(), resume="abc-123")
    assert "--resume=abc-123" in argv and "--model=opus" in argv and "--max-turns=30" in argv
    [config] = [a for a in argv if a.startswith("--mcp-config=")]
    server = json.loads(config.split("=", 1)[1])["mcpServers"]["orcha"]
    assert server == {
        "type": "http",
        "url": "http://127.0.0.1:1/mcp/ses_1",
        "headers": {"Authorization": "Bearer s3cret"},
    }
    assert "--allowedTools=Bash,Edit,mcp__orcha" in argv and "--strict-mcp-config" in argv


def request_for_manager():
    from orcha.agents.contract import StartRequest
    from orcha.model import SessionRole

    return StartRequest(
        session_id="ses_1",
        objective_id="obj_1",
        role=SessionRole.MANAGER,
        agent="claude",
        prompt="p",
        mcp_url="http://127.0.0.1:1/mcp/ses_1",
        mcp_token="s3cret",
    )


def test_each_claude_limit_signature_on_its_own():
    signatures = [
        (
            {
                "type": "rate_limit_event",
                "rate_limit_info": {
                    "status": "rejected",
                    "resetsAt": 1_900_000_000,
                    "overageDisabledReason": "out_of_credits",
                },
            },
            False,  # no overage credits, but the window resets: a timed window
            True,
        ),
        (
            {
                "type": "assistant",
                "error": "rate_limit",
                "message": {"content": [{"type": "text", "text": "API Error: Rate limit reached"}]},
            },
            False,
            False,
        ),
        ({"type": "assistant", "error": "billing_error", "message": {"content": []}}, True, False),
        ({"type": "result", "is_error": True, "api_error_status": 429, "result": "rate limited"}, False, False),
        ({"type": "result", "is_error": True, "result": "Claude AI usage limit reached|1900000000"}, False, True),
        (
            {"type": "result", "is_error": True, "result": "You've hit your limit · resets 3pm (Europe/Warsaw)"},
            False,
            False,
        ),
    ]
    for message, billing, has_reset in signatures:
        [event] = ClaudeParser().parse(json.dumps(message))
        assert isinstance(event, Exhausted), message
        assert event.billing is billing, message
        assert (event.resets_at is not None) is has_reset, message
    assert (
        ClaudeParser()
        .parse(json.dumps({"type": "result", "is_error": True, "result": "some other failure", "subtype": "success"}))[
            -1
        ]
        .failed
    )


async def test_the_claude_process_is_recorded_before_it_runs_and_then_reads_its_turns(fake_clis):
    recorded = []

    async def record(identity) -> None:
        assert read_log(fake_clis, "claude") == []  # held at the gate: claude has not started
        recorded.append(identity)

    run = await ClaudeProvider().start(request(fake_clis, "first task", record_process=record))
    try:
        turn = await next_turn(run.events())
        assert turn[-1] == TurnCompleted(final_text="done: first task")
    finally:
        await run.cancel()
    [identity] = recorded
    assert {entry["pid"] for entry in read_log(fake_clis, "claude")} == {identity.pgid}
    assert identity.kind == "headless" and identity.boot_id
