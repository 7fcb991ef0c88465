"""Live tests against the real agent CLIs; they cost money and need logins, so they run only when asked."""

from __future__ import annotations

import os
import shutil

import pytest

from orcha.agents.claude import ClaudeProvider
from orcha.agents.codex import CodexProvider
from orcha.agents.contract import ProviderSessionStarted, TurnCompleted
from tests.agents.conftest import next_turn, request

live_claude = pytest.mark.skipif(
    os.environ.get("ORCHA_CLAUDE_LIVE") != "1" or not shutil.which("claude"),
    reason="set ORCHA_CLAUDE_LIVE=1 (and log in to claude) to run against the real CLI",
)
live_codex = pytest.mark.skipif(
    os.environ.get("ORCHA_CODEX_LIVE") != "1" or not shutil.which("codex"),
    reason="set ORCHA_CODEX_LIVE=1 (and log in to codex) to run against the real CLI",
)


@live_claude
async def test_real_claude_answers_two_turns_in_one_process(tmp_path):
    run = await ClaudeProvider().start(request(tmp_path, "Reply with the single word: pong"))
    events = run.events()
    first = await next_turn(events)
    assert any(isinstance(e, ProviderSessionStarted) for e in first)
    assert isinstance(first[-1], TurnCompleted) and "pong" in first[-1].final_text.lower()
    await run.send("Now reply with the single word: ping")
    second = await next_turn(events)
    await run.cancel()
    assert "ping" in second[-1].final_text.lower()


@live_codex
async def test_real_codex_resumes_its_thread(tmp_path):
    provider = CodexProvider()
    run = await provider.start(request(tmp_path, "Remember the word 'tangerine'. Reply OK."))
    first = await next_turn(run.events())
    thread = next(e.provider_session_id for e in first if isinstance(e, ProviderSessionStarted))
    resumed = await provider.resume(request(tmp_path), thread, "Which word did I ask you to remember?")
    second = await next_turn(resumed.events())
    assert "tangerine" in second[-1].final_text.lower()


@pytest.mark.skipif(
    os.environ.get("ORCHA_LIVE_MANAGER") != "1" or not shutil.which("claude"),
    reason="set ORCHA_LIVE_MANAGER=1 (and log in to claude) to let a real Claude manager call orcha",
)
async def test_a_real_claude_manager_calls_spawn_session(tmp_path):
    from orcha.model import SessionRole
    from tests.web.harness import eventually, served

    async with served(tmp_path, providers={"claude": ClaudeProvider()}) as srv:
        objective = (
            await srv.client.post(
                "/api/objectives",
                json={
                    "title": "live manager check",
                    "agent": "claude",
                    "prompt": "Use the orcha spawn_session tool once, with the prompt 'say hello', then stop.",
                },
            )
        ).json()
        await eventually(
            lambda: any(s.role is SessionRole.WORKER for s in srv.store.list_sessions(objective_id=objective["id"])),
            within=300,
        )
