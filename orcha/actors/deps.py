"""What the actors are handed: small Protocols for their collaborators, and frozen bundles of them.

No actor receives the whole :class:`~orcha.actors.orchestrator.Orchestrator`: each gets only what it uses,
and mypy checks that the composition root hands it something that fits.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from typing import TYPE_CHECKING, Protocol

import attrs

from orcha.agents.registry import Exhaustion, ProviderRegistry
from orcha.effects import EffectKey
from orcha.executor import Executor
from orcha.guards import GuardConfig
from orcha.model import Audience, Question, Session, SessionEnd, Target, TranscriptLine, UsageUpdate, Workspace
from orcha.ports import Db

if TYPE_CHECKING:
    from orcha.agents.tools import ToolSurface


class Announce(Protocol):
    """Tell subscribers (SSE, websocket) that a row changed: ``announce("session", id)``."""

    def __call__(self, kind: str, ident: str) -> None: ...


class Executors(Protocol):
    """The executor that runs commands on a target (local now; SSH later)."""

    def for_target(self, target: Target) -> Executor: ...


class Questions(Protocol):
    """Open questions for the user (or the manager), and close them when something else resumed the asker."""

    async def ask(
        self,
        objective_id: str,
        session_id: str | None,
        text: str,
        audience: Audience,
        *,
        effect: EffectKey | None = None,
    ) -> Question: ...

    async def close_automatically(self, question_id: str, note: str) -> None: ...


class ProviderLimits(Protocol):
    """Record a provider's usage exhaustion (durably), or clear it."""

    async def mark_exhausted(self, record: Exhaustion) -> None: ...

    async def clear_exhausted(self, agent: str, *, reason: str) -> None: ...


class SessionWorkspaces(Protocol):
    """Check out a session's workspace when it starts; clean it up when it ends (per policy)."""

    async def prepare(self, session: Session) -> Workspace | None: ...

    async def release(self, session: Session) -> None: ...


class McpEndpoints(Protocol):
    """A session's own MCP URL and secret (minted at its start), and their end."""

    def endpoint(self, session_id: str) -> tuple[str | None, str | None]: ...

    def forget(self, session_id: str) -> None: ...


class SessionObserver(Protocol):
    """What the rest of orcha hears from a session actor, after each change is written."""

    async def session_moved(self, session: Session, end: SessionEnd | None = None) -> None:
        """Announce it; if it ended: wake the scheduler, tell the manager and the objective (``end``: what the
        end's own write told the manager already)."""

    def session_updated(self, session: Session) -> None:
        """Its usage or fields changed (not its status): announce it and what rolls it up."""

    def transcript_appended(self, session_id: str) -> None: ...

    def session_exited(self, session_id: str) -> None:
        """The actor is gone (its session ended, or orcha stops)."""


class TranscriptSink(Protocol):
    """Where session actors put transcript lines (``orcha.actors.transcript_buffer.TranscriptWriter``)."""

    def emit(self, line: TranscriptLine) -> None:
        """Queue ``line``; it is committed soon, in order with the other lines of its session."""

    def add_usage(self, update: UsageUpdate) -> None:
        """Queue usage for a session's counters; committed with the lines (a flush waits for it too)."""

    async def flush(self) -> None:
        """Return once every line emitted before the call is committed (or known lost, and logged)."""

    async def room(self) -> None:
        """Return at once while few lines wait; once too many do, when they are committed (backpressure)."""

    def full(self) -> bool:
        """Whether too many lines wait (:meth:`room` would wait): a caller checks this before it awaits."""


@attrs.frozen(kw_only=True)
class SessionSettings:
    guards: GuardConfig = GuardConfig()
    manager_idle_seconds: float | None = 600.0
    auto_resume_on_reset: bool = True
    done_turn_grace: float = 30.0
    """How long a manager that declared its objective done may go on with its turn before it is completed."""


@attrs.frozen(kw_only=True)
class SessionDeps:
    """Everything a :class:`~orcha.actors.session.SessionActor` uses, and nothing else."""

    db: Db
    clock: Callable[[], float]
    settings: SessionSettings
    providers: ProviderRegistry
    limits: ProviderLimits
    workspaces: SessionWorkspaces
    executors: Executors
    mcp: McpEndpoints
    questions: Questions
    observer: SessionObserver
    tools_for: Callable[[str], ToolSurface]
    agents_on: Callable[[str | None], Collection[str] | None] = lambda _target: None
    """The agent CLIs the doctor found on a target (``None``: unknown, nothing ruled out)."""
    transcripts: TranscriptSink | None = None
    """The shared transcript writer (group commit across sessions); ``None``: the actor runs its own."""
    stop_leftovers: Callable[[str], Awaitable[None]] | None = None
    """Stop what the store records as still running for an ended session found at start: a pane it had not
    re-attached yet (cancelled while queued, or while its re-attachment ran); ``None``: nothing to stop."""
