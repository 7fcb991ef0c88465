"""The provider contract every agent backend (fake, Claude, Codex, tmux) implements.

A :class:`Provider` starts an :class:`AgentRun` (one live agent process or conversation) for a session, or
resumes one by its provider session id. A run yields a normalized stream of :data:`AgentEvent` values; a
turn ends with :class:`TurnCompleted`. An interactive run takes more turns through :meth:`AgentRun.send`; a
non-interactive one ends after its turn, and is steered by :meth:`Provider.resume` with the new message.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from orcha.executor import Executor
from orcha.model import SessionRole
from orcha.processes import ProcessRecorder

if TYPE_CHECKING:
    from orcha.agents.tools import ToolSurface


@attrs.frozen(kw_only=True)
class Capabilities:
    """What a provider can do: steer a live process (``interactive``), show a terminal (``screen``)."""

    interactive: bool
    screen: bool = False


@attrs.frozen(kw_only=True)
class StartRequest:
    """Everything a provider needs to start (or resume) a session's agent."""

    session_id: str
    objective_id: str
    role: SessionRole
    agent: str
    prompt: str
    cwd: str | None = None
    env: Mapping[str, str] = attrs.field(factory=dict)
    tools: ToolSurface | None = None
    executor: Executor | None = None
    """Runs the agent's process on the session's target (CLI providers need it)."""
    mcp_url: str | None = None
    mcp_token: str | None = None
    """The session's own MCP endpoint and secret (managers drive orcha through it)."""
    record_process: ProcessRecorder | None = None
    """Called with the agent process's identity after it is created and before it runs (owned processes)."""
    resume_offset: int | None = None
    """For a tmux pane: the byte offset of its pane log that the transcript has consumed (resume from it)."""


# --- the normalized event stream ----------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class TextOut:
    text: str
    offset: int | None = None
    """For output read from a log (a tmux pane's): the byte offset just past this line, stored with it."""


@attrs.frozen(kw_only=True)
class ToolCall:
    call_id: str
    name: str
    arguments: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class ToolResult:
    call_id: str
    output: str
    is_error: bool = False


@attrs.frozen(kw_only=True)
class AgentError:
    """An error the agent hit (a failed tool, an API error). Not fatal by itself; loop guards count them."""

    message: str


@attrs.frozen(kw_only=True)
class UsageReport:
    """Model calls and tokens since the last report; ``cost_total_usd`` is the provider's running total."""

    model_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_total_usd: float | None = None


@attrs.frozen(kw_only=True)
class QuestionAsked:
    """The agent needs an answer from the user before it can go on."""

    text: str


@attrs.frozen(kw_only=True)
class TurnCompleted:
    """The turn ended. ``failed`` turns end the session as failed unless it is steered again."""

    final_text: str = ""
    failed: bool = False


@attrs.frozen(kw_only=True)
class Exhausted:
    """The provider refuses work until ``resets_at`` (Unix seconds; ``None`` when unknown)."""

    message: str
    resets_at: float | None = None
    billing: bool = False


@attrs.frozen(kw_only=True)
class ProviderSessionStarted:
    """The provider's own id for the conversation (Claude ``session_id``, Codex ``thread_id``)."""

    provider_session_id: str
    attach_command: str | None = None
    """How a human attaches to the live session (tmux), when there is a way."""


AgentEvent = (
    TextOut
    | ToolCall
    | ToolResult
    | AgentError
    | UsageReport
    | QuestionAsked
    | TurnCompleted
    | Exhausted
    | ProviderSessionStarted
)


class AgentRun(Protocol):
    """One live agent conversation. ``events`` ends when the run's process ends."""

    def events(self) -> AsyncIterator[AgentEvent]:
        """The normalized event stream. Iterate it from one task."""

    async def send(self, text: str) -> None:
        """Give an interactive run a new user turn. Non-interactive runs raise ``RuntimeError``."""

    async def cancel(self) -> None:
        """Stop the run now (scope cancel → provider cancel → process-group kill). Idempotent."""


class Provider(Protocol):
    """An agent backend."""

    name: str
    capabilities: Capabilities

    async def start(self, request: StartRequest) -> AgentRun:
        """Start a new conversation with ``request.prompt`` as its first turn."""

    async def resume(self, request: StartRequest, provider_session_id: str, text: str) -> AgentRun:
        """Continue conversation ``provider_session_id`` with ``text`` as the next turn."""
