"""Claude Code, interactive: one long-lived ``claude -p`` process per session, speaking stream-json.

Each user turn is one JSON line on stdin; stdout lines are routed by ``type`` (unknown types are ignored).
``system/init`` gives the provider session id (re-read every turn), ``result`` ends a turn and carries the
process's cumulative cost, assistant and user lines become transcript entries. Usage limits are detected in
the documented order (see :mod:`orcha.agents.limits`). Resume is ``--resume=<id>`` in the same cwd.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Sequence
from typing import Any

import attrs

from orcha.agents.briefs import ROLE_BRIEFS  # re-exported: the briefs were defined here
from orcha.agents.contract import (
    AgentError,
    AgentEvent,
    Capabilities,
    Exhausted,
    ProviderSessionStarted,
    StartRequest,
    TextOut,
    ToolCall,
    ToolResult,
    TurnCompleted,
    UsageReport,
)
from orcha.agents.limits import claude_limit
from orcha.agents.private_files import AgentProgram, SecretFile, write_secret
from orcha.batches import Batches
from orcha.executor import CommandError, RunningCommand
from orcha.processes import SESSION_VARIABLE


@attrs.frozen(kw_only=True)
class ClaudeOptions:
    """How sessions run Claude Code. ``--flag=value`` spelling is used for variadic flags."""

    binary: str = "claude"
    model: str | None = None
    permission_mode: str = "bypassPermissions"
    allowed_tools: tuple[str, ...] = ()
    max_turns: int | None = None
    extra_args: tuple[str, ...] = ()
    config_dir: str | None = None
    """The private folder where each claude process's MCP config (with its secret) is written, mode 0600;
    ``None``: the user's secrets folder (:func:`orcha.paths.secrets_dir`)."""


def user_turn(text: str) -> bytes:
    """One stream-json user message, as the SDK sends it."""
    line = {"type": "user", "message": {"role": "user", "content": text}, "parent_tool_use_id": None, "session_id": ""}
    return (json.dumps(line) + "\n").encode()


def mcp_config(url: str, token: str | None) -> str:
    server: dict[str, Any] = {"type": "http", "url": url}
    if token:
        server["headers"] = {"Authorization": f"Bearer {token}"}
    return json.dumps({"mcpServers": {"orcha": server}})


def claude_argv(
    options: ClaudeOptions, request: StartRequest, resume: str | None = None, *, mcp_config_path: str | None = None
) -> list[str]:
    argv = [
        options.binary,
        "-p",
        "--input-format",
        "stream-json",
        "--output-format",
        "stream-json",
        "--verbose",
        f"--permission-mode={options.permission_mode}",
    ]
    if options.model:
        argv.append(f"--model={options.model}")
    if options.max_turns is not None:
        argv.append(f"--max-turns={options.max_turns}")
    tools = list(options.allowed_tools)
    if request.mcp_url:
        config = mcp_config_path or mcp_config(request.mcp_url, request.mcp_token)
        argv += [f"--mcp-config={config}", "--strict-mcp-config"]
        tools.append("mcp__orcha")
        argv.append(f"--append-system-prompt={ROLE_BRIEFS[request.role]}")
    if tools:
        argv.append(f"--allowedTools={','.join(tools)}")
    if resume:
        argv.append(f"--resume={resume}")
    return argv + list(options.extra_args)


def claude_env(options: ClaudeOptions) -> dict[str, str]:
    """Bypassing permissions as root needs IS_SANDBOX=1, or the CLI refuses to start."""
    env = {"CLAUDE_CODE_ENTRYPOINT": "sdk-py", "CLAUDECODE": ""}
    if options.permission_mode == "bypassPermissions" and hasattr(os, "geteuid") and os.geteuid() == 0:
        env["IS_SANDBOX"] = "1"
    return env


async def write_mcp_config(options: ClaudeOptions, request: StartRequest) -> SecretFile | None:
    """Write the session's MCP config to a new file only its owner can read (the secret stays out of argv,
    where ``ps`` would show it); ``None`` when the session has no MCP endpoint. The caller removes it."""
    if not request.mcp_url or request.executor is None:
        return None
    config = mcp_config(request.mcp_url, request.mcp_token).encode()
    return await write_secret(request.executor, options.config_dir, request.session_id, ".json", config)


async def claude_tui_command(options: ClaudeOptions, request: StartRequest) -> AgentProgram:
    """Claude's interactive TUI (for tmux), with the same MCP config, tools and brief as a headless session."""
    secret = await write_mcp_config(options, request)
    headless = claude_argv(options, request, mcp_config_path=secret.path if secret else None)
    headless_only = {"-p", "--verbose", "--input-format", "--output-format", "stream-json"}
    argv = (options.binary, *(a for a in headless[1:] if a not in headless_only))
    return AgentProgram(argv=argv, secrets=(secret,) if secret else ())


class ClaudeParser:
    """Turns stream-json stdout lines into normalized events; holds what a turn needs across lines."""

    def __init__(self) -> None:
        self.session_id: str | None = None
        self._exhausted = False

    def parse(self, line: str) -> list[AgentEvent]:
        try:
            message = json.loads(line)
        except ValueError:
            return [] if not line.strip() else [AgentError(message=f"unparsable line from claude: {line[:200]}")]
        if not isinstance(message, dict):
            return []
        limit = claude_limit(message)
        if limit is not None:
            if self._exhausted:
                return []
            self._exhausted = True
            return [limit]
        kind = message.get("type")
        if kind == "system" and message.get("subtype") == "init":
            session_id = message.get("session_id")
            if isinstance(session_id, str) and session_id:
                self.session_id = session_id
                return [ProviderSessionStarted(provider_session_id=session_id)]
        if kind == "assistant":
            return list(self._assistant(message))
        if kind == "user":
            return list(self._tool_results(message))
        if kind == "result":
            return self._result(message)
        return []

    def _assistant(self, message: dict[str, Any]) -> Sequence[AgentEvent]:
        events: list[AgentEvent] = []
        if message.get("error"):
            events.append(AgentError(message=f"claude: {message['error']}"))
        for block in (message.get("message") or {}).get("content") or ():
            if not isinstance(block, dict):
                continue
            if block.get("type") == "text" and block.get("text"):
                events.append(TextOut(text=block["text"]))
            elif block.get("type") in ("tool_use", "server_tool_use"):
                events.append(
                    ToolCall(
                        call_id=str(block.get("id")), name=str(block.get("name")), arguments=block.get("input") or {}
                    )
                )
        return events

    def _tool_results(self, message: dict[str, Any]) -> Sequence[AgentEvent]:
        content = (message.get("message") or {}).get("content")
        if not isinstance(content, list):
            return []
        events: list[AgentEvent] = []
        for block in content:
            if isinstance(block, dict) and block.get("type") == "tool_result":
                output = block.get("content")
                if isinstance(output, list):
                    output = "\n".join(str(part.get("text", "")) for part in output if isinstance(part, dict))
                events.append(
                    ToolResult(
                        call_id=str(block.get("tool_use_id")),
                        output=str(output or "")[:20_000],
                        is_error=bool(block.get("is_error")),
                    )
                )
        return events

    def _result(self, message: dict[str, Any]) -> list[AgentEvent]:
        if self._exhausted:  # the failed result that follows a rejected rate limit is not news
            self._exhausted = False
            return []
        usage = message.get("usage") or {}
        cost = message.get("total_cost_usd")
        events: list[AgentEvent] = [
            UsageReport(
                model_calls=int(message.get("num_turns") or 1),
                input_tokens=int(usage.get("input_tokens") or 0),
                output_tokens=int(usage.get("output_tokens") or 0),
                cost_total_usd=float(cost) if cost is not None else None,
            )
        ]
        if message.get("session_id"):
            self.session_id = str(message["session_id"])
        failed = bool(message.get("is_error")) or str(message.get("subtype", "success")) != "success"
        text = message.get("result")
        if not text and failed:
            text = "; ".join(message.get("errors") or ()) or str(message.get("subtype"))
        events.append(TurnCompleted(final_text=str(text or ""), failed=failed))
        return events


class ClaudeRun:
    """One ``claude`` process: many turns, until stdin is closed or it is cancelled."""

    def __init__(self, process: RunningCommand, secret: SecretFile | None = None) -> None:
        self._process = process
        self._secret = secret
        self._parser = ClaudeParser()
        self._canceled = False

    def events(self) -> AsyncIterator[AgentEvent]:
        lines = self._process.lines()
        exhausted = False

        async def step() -> list[AgentEvent] | None:
            nonlocal exhausted
            line = None if exhausted else await anext(lines, None)
            if line is None:
                return None
            batch: list[AgentEvent] = []
            for event in self._parser.parse(line):
                batch.append(event)
                if isinstance(event, Exhausted):  # the stream ends here
                    exhausted = True
                    break
            return batch

        return Batches(step)

    async def send(self, text: str) -> None:
        await self._process.send(user_turn(text))

    async def cancel(self) -> None:
        """Close stdin (the CLI flushes its session file and exits), then stop the process group."""
        await self._stop(grace=5.0, drain=2.0)

    async def interrupt(self) -> None:
        """orcha is stopping: the same, in well under its 2 s (the CLI writes its session file as it goes,
        so the conversation resumes at the next start)."""
        await self._stop(grace=0.8, drain=0.4)

    async def _stop(self, *, grace: float, drain: float) -> None:
        if self._canceled:
            return
        self._canceled = True
        try:
            await self._process.kill(grace=grace, drain=drain)
        finally:
            if self._secret is not None:
                await self._secret.remove()


class ClaudeProvider:
    """Implements :class:`~orcha.agents.contract.Provider` for Claude Code."""

    capabilities = Capabilities(interactive=True, screen=False)

    def __init__(self, options: ClaudeOptions | None = None, *, name: str = "claude") -> None:
        self.name = name
        self.options = options or ClaudeOptions()

    async def start(self, request: StartRequest) -> ClaudeRun:
        return await self._spawn(request, request.prompt, resume=None)

    async def resume(self, request: StartRequest, provider_session_id: str, text: str) -> ClaudeRun:
        return await self._spawn(request, text, resume=provider_session_id)

    async def _spawn(self, request: StartRequest, first_turn: str, *, resume: str | None) -> ClaudeRun:
        if request.executor is None:
            raise CommandError(f"session {request.session_id} has no executor to run claude on")
        secret = await write_mcp_config(self.options, request)
        try:
            argv = claude_argv(self.options, request, resume, mcp_config_path=secret.path if secret else None)
            process = await request.executor.start(
                argv,
                cwd=request.cwd,
                env={**claude_env(self.options), SESSION_VARIABLE: request.session_id},
                before_exec=request.record_process,
                input=user_turn(first_turn),  # (with the release: one write)
            )
        except BaseException:
            if secret is not None:
                await secret.remove()
            raise
        return ClaudeRun(process, secret)
