"""Who may talk to orcha: pure decisions on a request's Host, Origin, media type and credentials.

No I/O and no framework here: :mod:`orcha.web.security` applies these to every request before routing.
Addresses are parsed as addresses (``ipaddress``), so ``127.0.0.1.evil.example`` is a name, not loopback.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

import attrs

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
COOKIE_PREFIX = "orcha-login-"
_Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_address(text: str) -> _Address | None:
    """``text`` as an IP address (brackets and an IPv6 zone allowed), or ``None`` if it is a name."""
    candidate = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    try:
        return ipaddress.ip_address(candidate)
    except ValueError:
        return None


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback address (127.0.0.0/8, ::1, and IPv4-mapped 127.x)."""
    if host.lower() == "localhost":
        return True
    address = parse_address(host)
    if address is None:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def split_host(value: str) -> tuple[str, int | None] | None:
    """A ``Host`` header (or an origin's netloc) as ``(host, port)``; ``None`` when it is malformed."""
    if not value or len(value) > 255 or any(c.isspace() or ord(c) < 0x21 or ord(c) > 0x7E for c in value):
        return None
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return None
        host, rest = value[: end + 1], value[end + 1 :]
        if parse_address(host) is None:
            return None
    elif value.count(":") > 1:
        return None
    else:
        host, _, port_text = value.partition(":")
        rest = f":{port_text}" if ":" in value else ""
    if not host or "@" in host or "/" in host:
        return None
    if not rest:
        return host.lower(), None
    port_text = rest[1:]
    if not port_text.isdigit() or len(port_text) > 5 or not 0 < int(port_text) <= 65535:
        return None
    return host.lower(), int(port_text)


def _same_host(a: str, b: str) -> bool:
    left, right = parse_address(a), parse_address(b)
    if left is not None or right is not None:
        return left == right
    return a.lower() == b.lower()


@attrs.frozen(kw_only=True)
class AccessPolicy:
    """What orcha accepts. ``token`` is ``None`` only with ``--no-auth`` (loopback only)."""

    token: str | None
    bind_host: str = "127.0.0.1"
    allowed_hosts: tuple[str, ...] = ()
    """More names or addresses the ``Host`` header may carry (``--allowed-host``)."""

    def host_allowed(self, host: str) -> bool:
        """Loopback names and addresses, the bound address, and the ``--allowed-host`` names.

        On a wildcard bind (``0.0.0.0``, ``::``) any IP address is the machine's own and allowed: DNS
        rebinding needs a name, and names must still be listed.
        """
        if is_loopback(host) or _same_host(host, self.bind_host):
            return True
        if any(_same_host(host, extra) for extra in self.allowed_hosts):
            return True
        bound = parse_address(self.bind_host)
        return bound is not None and bound.is_unspecified and parse_address(host) is not None

    def cookie_name(self, port: int | None) -> str:
        """Cookies are not kept apart by port, so each server's login cookie carries its port in its name."""
        return f"{COOKIE_PREFIX}{port or 0}"

    def cookie_value(self) -> str:
        """What the login cookie holds: a MAC of the token, so the cookie does not reveal the token itself."""
        if self.token is None:
            return ""
        return hmac.new(self.token.encode(), b"orcha dashboard login v1", hashlib.sha256).hexdigest()

    def token_matches(self, presented: str | None) -> bool:
        if self.token is None:
            return True
        return presented is not None and hmac.compare_digest(presented.encode(), self.token.encode())

    def cookie_matches(self, presented: str | None) -> bool:
        if self.token is None:
            return True
        return presented is not None and hmac.compare_digest(presented.encode(), self.cookie_value().encode())


@attrs.frozen
class Refusal:
    """Why a request is refused: the HTTP status, an error code and a message for the client."""

    status: int
    code: str
    message: str


def check_host(policy: AccessPolicy, host_header: str | None) -> Refusal | None:
    """The ``Host`` header must name orcha (DNS-rebinding defence); checked before anything else."""
    if host_header is None:
        return Refusal(400, "missing_host", "the request has no Host header")
    parsed = split_host(host_header)
    if parsed is None:
        return Refusal(400, "bad_host", "the Host header is malformed")
    if not policy.host_allowed(parsed[0]):
        return Refusal(
            421,
            "host_not_allowed",
            f"orcha does not answer to the host {parsed[0][:100]!r}: it answers to loopback names and its bound "
            "address; add a name with --allowed-host",
        )
    return None


def check_origin(origin: str | None, host_header: str, *, fetch_site: str | None = None) -> Refusal | None:
    """A browser's ``Origin`` must be orcha's own (same scheme-less host and port as the ``Host`` header).

    No ``Origin`` at all is a non-browser client (curl, an agent), which the token check covers. ``null`` (a
    sandboxed frame, a ``file:`` page) and any other site are refused; so is ``Sec-Fetch-Site: cross-site``.
    """
    if fetch_site is not None and fetch_site.lower() == "cross-site":
        return Refusal(403, "origin_not_allowed", "cross-site requests are refused")
    if origin is None:
        return None
    foreign = Refusal(403, "origin_not_allowed", f"requests from the origin {origin[:100]!r} are refused")
    try:
        parts = urlsplit(origin)
        port = parts.port
    except ValueError:
        return foreign
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        return foreign
    own = split_host(host_header)
    if own is None:
        return foreign
    default = 443 if parts.scheme == "https" else 80
    if not _same_host(parts.hostname, own[0].strip("[]")) or (port or default) != (own[1] or default):
        return foreign
    return None


def check_media_type(content_type: str | None, has_body: bool) -> Refusal | None:
    """A state-changing request with a body (or a declared type) must be ``application/json``.

    That is what makes a browser preflight it; forms and ``text/plain`` posts are refused with 415.
    """
    if content_type is None and not has_body:
        return None
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media == "application/json":
        return None
    return Refusal(415, "unsupported_media_type", "state-changing requests must be sent as application/json")


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer …`` header."""
    if authorization and authorization[:7].lower() == "bearer ":
        return authorization[7:].strip() or None
    return None


def cookie(header_values: Iterable[str], name: str) -> str | None:
    """The value of cookie ``name`` in ``Cookie`` headers (the first one wins)."""
    for header in header_values:
        for part in header.split(";"):
            key, sep, value = part.strip().partition("=")
            if sep and key == name:
                return value.strip().strip('"')
    return None
