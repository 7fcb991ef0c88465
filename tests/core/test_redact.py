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


def test_many_secrets_added_and_forgotten_are_masked_as_one_set_would_be():
    """Secrets come and go with sessions: whichever automaton holds one (the large one, rebuilt rarely, or
    the small one of recent additions), every live secret is masked and no forgotten one is."""
    import random

    rng = random.Random(16)
    redactor = Redactor()
    live: list[str] = []
    gone: list[str] = []
    for n in range(400):
        secret = f"tok{n:04d}-{rng.getrandbits(48):012x}"
        redactor.add_secret(secret)
        live.append(secret)
        if rng.random() < 0.4:
            forgotten = live.pop(rng.randrange(len(live)))
            redactor.forget_secret(forgotten)
            gone.append(forgotten)
        if n % 37 == 0:
            line = " ".join(rng.sample(live, min(5, len(live))) + gone[-3:])
            expected = " ".join([MASK] * min(5, len(live)) + gone[-3:])
            assert redactor.redact(line) == expected
    assert redactor.redact(" ".join(live)) == " ".join([MASK] * len(live))
    assert redactor.redact(" ".join(gone)) == " ".join(gone)
    redactor.add_secret(gone[0])  # known again
    assert redactor.redact(gone[0]) == MASK


def test_token_shaped_secrets_are_found_inside_longer_runs_and_other_shapes_too():
    """orcha's own secrets (token characters only) are looked up in every run of token characters; a
    configured key of another shape goes to the automaton; where two overlap, the longest wins."""
    redactor = Redactor(("tok-123456", "key with space!", "tok-123456789"))
    assert redactor.redact("xtok-123456y tok-123456789") == f"x{MASK}y {MASK}"
    assert redactor.redact("say key with space! now") == f"say {MASK} now"
    redactor.add_secret("tok-1234")  # shorter, inside the others: the longest still wins
    assert redactor.redact("(tok-123456789) tok-1234") == f"({MASK}) {MASK}"
    redactor.forget_secret("key with space!")
    redactor.forget_secret("tok-123456789")
    assert redactor.redact("key with space! tok-123456789") == f"key with space! {MASK}789"  # tok-123456 is still known


def test_a_secret_inside_a_very_long_run_of_token_characters_is_masked(monkeypatch):
    """A base64 blob is one long run: it is searched with an automaton of the token secrets, rebuilt after a
    change, so an added secret is found and a forgotten one is not."""
    from orcha import redact

    redactor = Redactor(("blobsecret-1",))
    blob = "A" * (redact.LONG_RUN + 100)
    assert redactor.redact(f"{blob}blobsecret-1{blob}") == f"{blob}{MASK}{blob}"
    redactor.add_secret("blobsecret-22")
    assert redactor.redact(f"{blob}blobsecret-22") == f"{blob}{MASK}"
    redactor.forget_secret("blobsecret-1")
    assert redactor.redact(f"{blob}blobsecret-1") == f"{blob}blobsecret-1"


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
    "say key with space! now",
    "a" * 3000 + "s3cr3t-session-token",
    "",
]


@given(st.lists(st.lists(st.sampled_from(_PIECES), max_size=4).map("".join), max_size=12))
def test_a_batch_is_redacted_exactly_as_its_lines_one_by_one(texts):
    redactor = Redactor(("s3cr3t-session-token", "s3cr3t-session", "x\nsecret-with-newline", "key with space!"))
    assert redactor.redact_many(texts) == [redactor.redact(text) for text in texts]


def test_a_multi_line_secret_is_masked_line_by_line_and_a_clean_batch_is_returned_as_it_came():
    redactor = Redactor(("-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nab\n",))
    assert redactor.redact("k: MIIEvQIBADANBgkqhkiG9w0BAQEFAASC") == f"k: {MASK}"
    assert redactor.redact_many(["x", "-----BEGIN KEY-----"]) == ["x", MASK]
    short = Redactor(("hunter2pass\nab12",))  # a line too short to be a secret alone is masked with the whole
    assert short.redact("pw: hunter2pass\nab12") == f"pw: {MASK}"
    assert short.redact_many(["hunter2pass\nab12", "ab12"]) == [MASK, "ab12"]
    short.forget_secret("hunter2pass\nab12")
    assert short.redact("hunter2pass\nab12") == "hunter2pass\nab12"
    texts = ["line one", "line two"] * 50
    assert redactor.redact_many(texts) == texts


def test_once_lookups_would_have_paid_for_it_the_token_secrets_are_searched_with_an_automaton(monkeypatch):
    """Text searched while the secrets stay gets the automaton; a change goes back to lookups until the
    automaton pays again. Either way a batch is redacted as its lines are, one by one."""
    import random

    from orcha import redact

    monkeypatch.setattr(redact, "BUILD_AFTER", 200)
    rng = random.Random(7)
    secrets = [f"tok-{rng.getrandbits(160):040x}" for _ in range(30)]
    redactor = Redactor(tuple(secrets))
    lines = [
        f"run {n}: "
        + "".join(rng.choice([secrets[n % 30], "x" * 50, "plain words ", "API_KEY=hunter22 "]) for _ in range(4))
        for n in range(60)
    ]
    expected = [redactor.redact(line) for line in lines]  # looked up place by place, then (past 200) built
    assert redactor._token_automaton is not None
    assert redactor.redact_many(lines) == expected and all(secret not in "".join(expected) for secret in secrets)
    redactor.forget_secret(secrets[0])
    assert redactor._token_automaton is None  # a change: lookups again
    assert secrets[0] in redactor.redact(f"now {secrets[0]} shows") and redactor.redact(secrets[1]) == MASK


def test_secrets_come_and_go_on_one_thread_while_another_redacts():
    """The token secrets of a length change in place (an add costs the same among 2,000 as among none): a
    redaction on another thread meanwhile never fails and always masks the secrets live all along."""
    import secrets as random_secrets
    import threading

    steady = [random_secrets.token_urlsafe(32) for _ in range(200)]
    redactor = Redactor(tuple(steady))
    line = " ".join(steady[::20])
    expected = " ".join([MASK] * len(steady[::20]))
    done = threading.Event()
    failures: list[BaseException] = []

    def churn() -> None:
        try:
            for _ in range(3000):
                passing = random_secrets.token_urlsafe(32)
                redactor.add_secret(passing)
                redactor.add_secret(random_secrets.token_urlsafe(9))  # a length of its own, come and gone
                redactor.forget_secret(passing)
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)
        finally:
            done.set()

    thread = threading.Thread(target=churn)
    thread.start()
    redactions = 0
    while not done.is_set() or redactions == 0:
        assert redactor.redact(line) == expected
        assert redactor.redact_many([line, "plain", line]) == [expected, "plain", expected]
        redactions += 1
    thread.join()
    assert failures == [] and redactions > 0


def test_adding_a_secret_keeps_the_set_of_its_length_and_forgetting_the_last_drops_the_length():
    redactor = Redactor(("a" * 32, "b" * 32))
    same = redactor._tokens[32]
    redactor.add_secret("c" * 32)
    redactor.forget_secret("a" * 32)
    assert redactor._tokens[32] is same and same == {"b" * 32, "c" * 32}  # changed in place, not copied
    redactor.forget_secret("b" * 32)
    redactor.forget_secret("c" * 32)
    assert 32 not in redactor._tokens
    assert redactor.redact("c" * 32) == "c" * 32
