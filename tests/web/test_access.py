"""The gate's decisions, without a server: Host, Origin, media type, cookies (pure functions)."""

from __future__ import annotations

import pytest

from orcha.web.access import (
    AccessPolicy,
    bearer_token,
    check_host,
    check_media_type,
    check_origin,
    cookie,
    is_loopback,
    split_host,
)

LOOPBACK = AccessPolicy(token="t" * 20)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.3.4.5", True),
        ("localhost", True),
        ("LocalHost", True),
        ("::1", True),
        ("[::1]", True),
        ("::ffff:127.0.0.1", True),
        ("127.0.0.1.evil.example", False),  # a name that merely starts with 127.
        ("127.1", False),  # not an address in ipaddress's strict grammar; a resolver might say otherwise
        ("0x7f000001", False),
        ("2130706433", False),
        ("localhost.", False),
        ("localhost.evil.example", False),
        ("evil.localhost", False),
        ("0.0.0.0", False),
        ("10.0.0.1", False),
    ],
)
def test_loopback_is_parsed_as_an_address_not_matched_as_a_prefix(host, loopback):
    assert is_loopback(host) is loopback


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("127.0.0.1:8080", ("127.0.0.1", 8080)),
        ("localhost", ("localhost", None)),
        ("[::1]:8080", ("[::1]", 8080)),
        ("Example.COM:443", ("example.com", 443)),
        ("", None),
        ("::1", None),  # an IPv6 Host must be bracketed
        ("[::1", None),
        ("[not-an-address]:80", None),
        ("127.0.0.1:", None),
        ("127.0.0.1:0", None),
        ("127.0.0.1:65536", None),
        ("127.0.0.1:80x", None),
        ("user@127.0.0.1", None),
        ("127.0.0.1 :80", None),
        ("a\x00b", None),
        ("h\u00e9", None),
        ("x" * 300, None),
    ],
)
def test_host_headers_are_parsed_strictly(value, parsed):
    assert split_host(value) == parsed


@pytest.mark.parametrize(
    ("policy", "host", "allowed"),
    [
        (LOOPBACK, "127.0.0.1:8080", True),
        (LOOPBACK, "localhost:8080", True),
        (LOOPBACK, "[::1]:8080", True),
        (LOOPBACK, "rebind.evil.example", False),
        (LOOPBACK, "127.0.0.1.nip.io:8080", False),
        (LOOPBACK, "192.168.1.20:8080", False),
        (AccessPolicy(token="t", bind_host="192.168.1.20"), "192.168.1.20:8080", True),
        (AccessPolicy(token="t", bind_host="192.168.1.20"), "192.168.1.21:8080", False),
        (AccessPolicy(token="t", bind_host="0.0.0.0"), "10.1.2.3:8080", True),  # a wildcard bind: any address
        (AccessPolicy(token="t", bind_host="0.0.0.0"), "box.lan:8080", False),  # but names must be listed
        (AccessPolicy(token="t", bind_host="::"), "[fe80::1]:8080", True),
        (AccessPolicy(token="t", allowed_hosts=("box.lan",)), "BOX.lan:8080", True),
        (AccessPolicy(token="t", allowed_hosts=("box.lan",)), "sub.box.lan:8080", False),
    ],
)
def test_the_host_allowlist(policy, host, allowed):
    refusal = check_host(policy, host)
    assert (refusal is None) is allowed
    if not allowed:
        assert refusal.status == 421 and refusal.code == "host_not_allowed"


def test_a_missing_or_malformed_host_is_a_400():
    assert check_host(LOOPBACK, None).status == 400
    assert check_host(LOOPBACK, "a b").status == 400


@pytest.mark.parametrize(
    ("origin", "host", "allowed"),
    [
        (None, "127.0.0.1:8080", True),  # curl, an agent: no Origin; the token decides
        ("http://127.0.0.1:8080", "127.0.0.1:8080", True),
        ("http://localhost:8080", "localhost:8080", True),
        ("http://[::1]:8080", "[::1]:8080", True),
        ("http://127.0.0.1:8080/", "127.0.0.1:8080", True),
        ("http://evil.example", "127.0.0.1:8080", False),
        ("http://127.0.0.1:9999", "127.0.0.1:8080", False),  # another local server is another origin
        ("http://localhost:8080", "127.0.0.1:8080", False),
        ("null", "127.0.0.1:8080", False),
        ("file://", "127.0.0.1:8080", False),
        ("http://127.0.0.1:8080.evil.example", "127.0.0.1:8080", False),
        ("http://127.0.0.1:99999", "127.0.0.1:8080", False),
        ("javascript:alert(1)", "127.0.0.1:8080", False),
        ("http://127.0.0.1", "127.0.0.1:80", True),
        ("https://box.lan", "box.lan:443", True),
    ],
)
def test_only_orcha_s_own_origin_may_change_state(origin, host, allowed):
    refusal = check_origin(origin, host)
    assert (refusal is None) is allowed
    if not allowed:
        assert refusal.status == 403 and refusal.code == "origin_not_allowed"


def test_sec_fetch_site_cross_site_is_refused_even_without_an_origin():
    assert check_origin(None, "127.0.0.1:8080", fetch_site="cross-site").status == 403
    assert check_origin(None, "127.0.0.1:8080", fetch_site="same-origin") is None


@pytest.mark.parametrize(
    ("content_type", "has_body", "allowed"),
    [
        ("application/json", True, True),
        ("application/json; charset=utf-8", True, True),
        ("Application/JSON", True, True),
        (None, False, True),  # POST /cancel with nothing to parse
        ("application/json", False, True),
        ("text/plain;charset=UTF-8", True, False),
        ("application/x-www-form-urlencoded", True, False),
        ("multipart/form-data; boundary=x", True, False),
        ("text/plain", False, False),
        (None, True, False),
        ("application/jsonx", True, False),
    ],
)
def test_state_changing_requests_must_be_json(content_type, has_body, allowed):
    refusal = check_media_type(content_type, has_body)
    assert (refusal is None) is allowed
    if not allowed:
        assert refusal.status == 415


def test_credentials_are_compared_exactly_and_the_cookie_is_not_the_token():
    policy = AccessPolicy(token="a-token-of-twenty-chars")
    assert policy.token_matches("a-token-of-twenty-chars")
    assert not policy.token_matches("a-token-of-twenty-char") and not policy.token_matches(None)
    assert policy.cookie_value() != policy.token and len(policy.cookie_value()) == 64
    assert policy.cookie_matches(policy.cookie_value()) and not policy.cookie_matches(policy.token)
    assert AccessPolicy(token="another-token-of-twenty").cookie_value() != policy.cookie_value()
    assert policy.cookie_name(8080) != policy.cookie_name(8081)
    assert AccessPolicy(token=None).token_matches(None)  # --no-auth


def test_bearer_and_cookie_parsing():
    assert bearer_token("Bearer abc") == "abc" and bearer_token("bearer  abc ") == "abc"
    assert bearer_token("Basic abc") is None and bearer_token("Bearer ") is None and bearer_token(None) is None
    assert cookie(["a=1; orcha-login-8080=xyz; b=2"], "orcha-login-8080") == "xyz"
    assert cookie(["orcha-login-80800=xyz"], "orcha-login-8080") is None
    assert cookie([], "x") is None
