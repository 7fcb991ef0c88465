"""Where commands run and where agents reach orcha: executors per target, and per-session MCP secrets."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable

from orcha.executor import CommandError, Executor
from orcha.model import Target, TargetKind
from orcha.redact import DEFAULT_REDACTOR


class TargetExecutors:
    """:class:`~orcha.actors.deps.Executors` for this build: this machine's executor for local targets, and
    ``ssh(target)`` (a pooled SSH executor per target, built at the edge) for SSH targets."""

    def __init__(self, local: Executor | None, ssh: Callable[[Target], Executor] | None = None) -> None:
        self._local = local
        self._ssh = ssh

    def for_target(self, target: Target) -> Executor:
        if target.kind is TargetKind.LOCAL and self._local is not None:
            return self._local
        if target.kind is TargetKind.SSH and self._ssh is not None:
            return self._ssh(target)
        raise CommandError(f"no executor for target {target.name} ({target.kind}) in this build")


class McpSecrets:
    """Each running session's MCP URL and secret, minted at its start, forgotten at its end.

    With a ``key`` (a private file of the user's, see ``orcha serve``), a session's secret is derived from the
    key and its id, so it is the same after a restart: an agent TUI in a tmux pane that orcha re-adopts keeps
    reaching orcha with the secret it was given. Without one, each start mints random secrets."""

    def __init__(self, key: bytes | None = None) -> None:
        self.base_url: str | None = None
        """Where sessions reach their MCP endpoint (``<base>/mcp/<session id>``); set once the server listens."""
        self._key = key
        self._secrets: dict[str, str] = {}

    def endpoint(self, session_id: str) -> tuple[str | None, str | None]:
        """The session's URL and secret (``None``s without a server)."""
        if self.base_url is None:
            return None, None
        return f"{self.base_url.rstrip('/')}/mcp/{session_id}", self._secret(session_id)

    def _secret(self, session_id: str) -> str:
        secret = self._secrets.get(session_id)
        if secret is None:
            secret = self._secrets[session_id] = self._mint(session_id)
            DEFAULT_REDACTOR.add_secret(secret)
        return secret

    def _mint(self, session_id: str) -> str:
        if self._key is None:
            return secrets.token_urlsafe(32)
        digest = hmac.new(self._key, f"orcha-mcp:{session_id}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def secret_of(self, session_id: str) -> str | None:
        """The secret a request to ``/mcp/<session_id>`` must carry; ``None`` once the session has ended (the
        caller asks only for live sessions: with a key, one re-adopted after a restart has its secret again)."""
        if self._key is not None:
            return self._secret(session_id)
        return self._secrets.get(session_id)

    def forget(self, session_id: str) -> None:
        secret = self._secrets.pop(session_id, None)
        if secret is not None:
            DEFAULT_REDACTOR.forget_secret(secret)


class TargetAgents:
    """Which agent CLIs each target's doctor found (``None``: not known yet), so a usage fallback only goes
    to a provider the session's machine can run. The target actors write it; sessions read it."""

    def __init__(self) -> None:
        self._found: dict[str, tuple[str, ...] | None] = {}

    def record(self, target_id: str, agents: tuple[str, ...] | None) -> None:
        self._found[target_id] = agents

    def on(self, target_id: str | None) -> tuple[str, ...] | None:
        return self._found.get(target_id) if target_id is not None else None
