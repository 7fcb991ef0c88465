"""Secrets never reach transcripts or logs."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orcha.redact import MASK, Redactor


@pytest.mark.parametrize(
    "text",
    [
        "Authorization: Bearer abcdef0123456789abcdef",
        "key sk-ant-api03-abcdefghijklmnopqrstuvwx",
        "token ghp_abcdefghijklmnopqrstuvwxyz0123",
        "ANTHROPIC_API_KEY=hunter2hunter2",
        'password: "correct-horse"',
        "aws AKIAABCDEFGHIJKLMNOP",
    ],
)
def test_credential_shaped_text_is_masked(text):
    redacted = Redactor().redact(text)
    assert MASK in redacted
    for secret in (
        "abcdef0123456789abcdef",
        "abcdefghijklmnopqrstuvwx",
        "hunter2hunter2",
        "correct-horse",
        "ABCDEFGHIJKLMNOP",
        "ghp_abcdefghij",
    ):
        assert secret not in redacted


def test_known_secrets_are_masked_wherever_they_appear():
    redactor = Redactor()
    redactor.add_secret("s3cr3t-session-token")
    assert redactor.redact("url?token=s3cr3t-session-token&x=1").count("s3cr3t") == 0


def test_ordinary_text_is_left_alone():
    text = "Refactored the token parser; see tests/test_tokens.py (42 passed)."
    assert Redactor().redact(text) == text


def test_a_thousand_known_secrets_are_all_masked_and_a_forgotten_one_is_not():
    import secrets as random_secrets

    known = [random_secrets.token_urlsafe(32) for _ in range(1000)]
    redactor = Redactor(tuple(known))
    line = f"a{known[0]} b {known[999]}c {known[500]}{known[501]} end"
    assert redactor.redact(line) == f"a{MASK} b {MASK}c {MASK}{MASK} end"
    redactor.forget_secret(known[0])
    assert redactor.redact(known[0]) == known[0]
    assert redactor.redact(known[1]) == MASK


def test_the_longest_secret_wins_where_two_overlap():
    redactor = Redactor(("abcdef", "abcdefghij"))
    assert redactor.redact("xx abcdefghij yy abcdef") == f"xx {MASK} yy {MASK}"


_PIECES = [
    "plain words ",
    "Bearer abcdef0123456789abcdef ",
    "sk-ant-api03-abcdefghijklmnopqrstuvwx",
    "API_KEY=hunter2hunter2 ",
    "KEYBOARD ",
    "s3cr3t-session-token",
    "s3cr3t-session",
    "ghp_abcdefghijklmnopqrstuvwxyz0123",
    "é İ K ",
    "",
]


@given(st.lists(st.lists(st.sampled_from(_PIECES), max_size=4).map("".join), max_size=12))
def test_a_batch_is_redacted_exactly_as_its_lines_one_by_one(texts):
    redactor = Redactor(("s3cr3t-session-token", "s3cr3t-session", "x\nsecret-with-newline"))
    assert redactor.redact_many(texts) == [redactor.redact(text) for text in texts]


def test_a_multi_line_secret_is_masked_line_by_line_and_a_clean_batch_is_returned_as_it_came():
    redactor = Redactor(("-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nab\n",))
    assert redactor.redact("k: MIIEvQIBADANBgkqhkiG9w0BAQEFAASC") == f"k: {MASK}"
    assert redactor.redact_many(["x", "-----BEGIN KEY-----"]) == ["x", MASK]
    texts = ["line one", "line two"] * 50
    assert redactor.redact_many(texts) == texts
