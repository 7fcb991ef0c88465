"""A session's tools over its MCP endpoint, from the agent's side: the official ``mcp`` client SDK, as a
real agent in a tmux pane calls them (orcha's fake agent TUI uses it).

Each call opens a short connection (the endpoint is stateless HTTP), so a call made after orcha restarted
reaches the new process. A call that cannot reach orcha (connection refused, a timeout, a 5xx, the session
not served yet) is tried again with backoff, each retry told to ``on_retry``, until ``retry_for`` seconds
have passed: then :class:`~orcha.agents.fake_tui.player.OrchaUnreachableError`. A refusal (the secret's,
401/403, or another 4xx) is not retried. A call made again after a lost reply is safe: without a call id, orcha keys the
effect by tool and arguments (:mod:`orcha.effects`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import httpx2
import trio
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from orcha.agents.fake_tui.player import OrchaUnreachableError
from orcha.agents.tools import ToolOutcome
from orcha.errors import OrchaError

BACKOFF = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0)
"""Seconds before each retry; the last one repeats."""
RETRIED_STATUSES = frozenset({404, 408, 425, 429})
"""Refusals worth another try (with every 5xx): the session not served yet, a timeout, too many requests."""


class McpConfigError(OrchaError):
    """The MCP config file cannot be read, or is not one."""


@attrs.frozen(kw_only=True)
class McpEndpoint:
    url: str
    headers: Mapping[str, str] = attrs.field(factory=dict, repr=False)
    """The ``Authorization`` header with the session's secret: never shown."""


def read_mcp_config(path: str, *, server: str = "orcha") -> McpEndpoint:
    """The endpoint in an MCP config file as Claude Code reads it (``{"mcpServers": {"orcha": {"url",
    "headers"}}}``); raises :class:`McpConfigError` saying what is wrong (never with the file's content)."""
    try:
        with open(path, "rb") as handle:
            data = json.loads(handle.read(1_000_000))
    except OSError as exc:
        raise McpConfigError(f"cannot read the MCP config {path}: {exc.strerror or exc}") from None
    except ValueError:
        raise McpConfigError(f"the MCP config {path} is not JSON") from None
    entry = data.get("mcpServers", {}).get(server) if isinstance(data, dict) else None
    entry = entry if isinstance(entry, dict) else {}
    url, headers = entry.get("url"), entry.get("headers") or {}
    if not isinstance(url, str) or not url.startswith(("http://", "https://")) or not isinstance(headers, dict):
        raise McpConfigError(f"the MCP config {path} has no http server {server!r} with a url")
    return McpEndpoint(url=url, headers={str(k): str(v) for k, v in headers.items()})


def backoff(attempt: int) -> float:
    """Seconds to wait before retry number ``attempt`` (1, 2, …)."""
    return BACKOFF[min(attempt, len(BACKOFF)) - 1]


class _Transient(Exception):
    """A failure worth another try (orcha is down, restarting, or slow)."""


class McpTools:
    """The session's tools over MCP (implements :class:`orcha.agents.tools.ToolSurface`)."""

    def __init__(
        self,
        endpoint: McpEndpoint,
        *,
        retry_for: float = 120.0,
        on_retry: Callable[[int, float, str], None] = lambda attempt, delay, error: None,
        clock: Callable[[], float] = trio.current_time,
        timeout: float = 120.0,
    ) -> None:
        self._endpoint = endpoint
        self._retry_for = retry_for
        self._on_retry = on_retry
        self._clock = clock
        self._timeout = timeout

    async def call(self, name: str, arguments: Mapping[str, Any], *, call_id: str | None = None) -> ToolOutcome:
        """Call tool ``name``; retried while orcha cannot be reached. Raises :class:`OrchaUnreachableError`
        when it stays unreachable for ``retry_for`` seconds or refuses the secret. ``call_id`` is not sent
        (an MCP client has none to send)."""
        started = self._clock()
        attempt = 0
        while True:
            try:
                return await self._call_once(name, dict(arguments))
            except _Transient as exc:
                attempt += 1
                delay = backoff(attempt)
                waited = self._clock() - started
                if waited + delay > self._retry_for:
                    raise OrchaUnreachableError(
                        f"cannot reach orcha at {self._endpoint.url} ({attempt} tries in {math.ceil(waited)} s): {exc}"
                    ) from None
                self._on_retry(attempt, delay, str(exc))
                await trio.sleep(delay)

    async def _call_once(self, name: str, arguments: dict[str, Any]) -> ToolOutcome:
        refused: list[tuple[int, str]] = []

        async def note_refusal(response: httpx2.Response) -> None:
            if response.status_code >= 400:
                await response.aread()
                refused.append((response.status_code, _message(response)))

        http = httpx2.AsyncClient(
            headers=dict(self._endpoint.headers),
            timeout=httpx2.Timeout(30, read=self._timeout),
            event_hooks={"response": [note_refusal]},
        )
        try:
            async with http, Client(streamable_http_client(self._endpoint.url, http_client=http), mode="legacy") as c:
                result = await c.call_tool(name, arguments)
        except Exception as exc:  # the SDK raises from its task groups: look at what is inside
            raise _classify(exc, refused) from None
        text = "\n".join(getattr(block, "text", "") for block in result.content)
        data = result.structured_content if isinstance(result.structured_content, dict) else {}
        return ToolOutcome(text=text, data=data, is_error=bool(result.is_error))


def _message(response: httpx2.Response) -> str:
    try:
        body = response.json()
        return str(body["error"]["message"])[:300]
    except (ValueError, KeyError, TypeError):
        return response.text[:300] or response.reason_phrase


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


def _classify(exc: Exception, refused: list[tuple[int, str]]) -> Exception:
    """What a failed call means: orcha refused it (final: the secret, a bad request), or orcha could not
    be reached, was restarting or failed (worth another try)."""
    if refused:
        status, message = refused[-1]
        if status in RETRIED_STATUSES or status >= 500:
            return _Transient(f"HTTP {status}: {message}")
        what = "this session's MCP secret" if status == 401 else "the MCP request"
        return OrchaUnreachableError(f"orcha refused {what} ({status}): {message}")
    leaves = _leaves(exc)
    transport = [leaf for leaf in leaves if isinstance(leaf, httpx2.TransportError)]
    return _Transient("; ".join(f"{type(leaf).__name__}: {leaf}" for leaf in transport or leaves)[:300])
