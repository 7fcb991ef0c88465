"""Usage-limit signatures: a limit with a reset time is a timed window, whatever else the message says."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from orcha.agents.claude import ClaudeParser
from orcha.agents.contract import Exhausted
from orcha.agents.limits import claude_limit, codex_limit, try_again_time

NOW = datetime(2026, 3, 9, 22, 0).timestamp()  # local time, like the CLI's message
LOG_429 = 'ERROR codex_core: 429 {"error":{"type":"usage_limit_reached","resets_at":1773113950}}'
PRO = (
    "You've hit your usage limit. Upgrade to Pro (https://chatgpt.com/explore/pro), visit "
    "https://chatgpt.com/codex/settings/usage to purchase more credits or try again at Mar 10th, 2026 3:39 AM."
)


@pytest.mark.parametrize(
    ("text", "stderr", "billing", "resets_at"),
    [
        # "purchase more credits OR try again at …": a timed window, with the reset from the log …
        (PRO, LOG_429, False, 1773113950.0),
        # … or, without the log, from the message itself
        (PRO, "", False, datetime(2026, 3, 10, 3, 39).timestamp()),
        ("You've hit your usage limit. Try again at 9:20 AM.", "", False, datetime(2026, 3, 10, 9, 20).timestamp()),
        ("You've hit your usage limit. Try again at 11:30 PM.", "", False, datetime(2026, 3, 9, 23, 30).timestamp()),
        ("You've hit your usage limit. Try again in 5 minutes.", "", False, NOW + 300),
        ("You've hit your usage limit for gpt-5. Switch to another model now, or try again later.", "", False, None),
        ("You've hit your usage limit. Limits reset every 5h and every week.", "", False, None),
        ("Your workspace is out of credits. Add credits to continue.", "", True, None),
        ("Your workspace is out of credits. Purchase more credits in billing settings.", "", True, None),
        # the 429 body in the log alone (the message was generic)
        ("stream error", LOG_429, False, 1773113950.0),
    ],
)
def test_each_codex_signature(text, stderr, billing, resets_at):
    event = codex_limit(text, stderr, now=NOW)
    assert isinstance(event, Exhausted)
    assert event.billing is billing
    assert event.resets_at == resets_at


def test_other_codex_errors_are_no_limit():
    assert codex_limit("stream error: boom", "ERROR: connection reset", now=NOW) is None


def test_try_again_times():
    assert try_again_time("try again in 2 hours", NOW) == NOW + 7200
    assert try_again_time("try again in 1 day", NOW) == NOW + 86400
    assert try_again_time("try again at 22:00", NOW) == (datetime(2026, 3, 9, 22) + timedelta(days=1)).timestamp()
    assert try_again_time("try again at 13:75", NOW) is None
    assert try_again_time("try again at Foo 10th, 2026 3:39 AM", NOW) is None
    assert try_again_time("try again later", NOW) is None


@pytest.mark.parametrize(
    ("message", "billing", "resets_at"),
    [
        # out of overage credits, but the window resets: a timed window
        (
            {
                "type": "rate_limit_event",
                "rate_limit_info": {"status": "rejected", "resetsAt": 1_900_000_000, "errorCode": "credits_required"},
            },
            False,
            1_900_000_000.0,
        ),
        (
            {"type": "rate_limit_event", "rate_limit_info": {"status": "rejected", "errorCode": "credits_required"}},
            True,
            None,
        ),
        ({"type": "assistant", "error": "billing_error", "message": {"content": []}}, True, None),
        (
            {
                "type": "assistant",
                "error": "billing_error",
                "message": {"content": [{"type": "text", "text": "Credit balance too low. Try again in 1 hour."}]},
            },
            False,
            None,
        ),
        (
            {"type": "result", "is_error": True, "result": "Claude AI usage limit reached|1900000000 (billing)"},
            False,
            1_900_000_000.0,
        ),
        (
            {"type": "result", "is_error": True, "api_error_status": 429, "result": "billing: out of credits"},
            True,
            None,
        ),
    ],
)
def test_each_claude_signature(message, billing, resets_at):
    event = claude_limit(message)
    assert isinstance(event, Exhausted)
    assert (event.billing, event.resets_at) == (billing, resets_at)
    [parsed] = ClaudeParser().parse(json.dumps(message))
    assert parsed == event


def test_telemetry_is_no_limit():
    for status in ("allowed", "allowed_warning"):
        assert claude_limit({"type": "rate_limit_event", "rate_limit_info": {"status": status}}) is None
