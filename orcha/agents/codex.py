"""Codex, non-interactive: every turn is one ``codex exec --json`` process; steering is cancel + resume.

The prompt goes on stdin and stdin is closed at once (left open, codex waits for more input forever).
Options come before ``resume``. ``thread.started`` gives the thread id (the provider session id), ``item.*``
events become transcript entries, ``turn.completed`` carries usage, ``turn.failed`` or exit 1 fails the turn,
and the usage-limit message is reported as exhaustion.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import AsyncIterator
from typing import Any

import attrs

from orcha.agents.briefs import ROLE_BRIEFS
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
from orcha.agents.limits import codex_limit
from orcha.agents.private_files import AgentProgram, write_secret
from orcha.batches import Batches
from orcha.executor import CommandError, RunningCommand
from orcha.processes import SESSION_VARIABLE


@attrs.frozen(kw_only=True)
class CodexOptions:
    binary: str = "codex"
    model: str | None = None
    sandbox: str = "workspace-write"
    extra_config: tuple[str, ...] = ()
    config_dir: str | None = None
    """The private folder for the TUI's token file (headless runs get it in their environment); ``None``: the
    user's secrets folder (:func:`orcha.paths.secrets_dir`)."""


def codex_argv(options: CodexOptions, request: StartRequest, resume: str | None = None) -> list[str]:
    """``codex exec --json [options] [resume <id>] -``: every option before ``resume``, the prompt on stdin.

    With an MCP endpoint, the role's brief goes in as ``developer_instructions`` (on resume too: like Claude's
    appended system prompt, it is configuration, not history)."""
    argv = [options.binary, "exec", "--json", "--skip-git-repo-check", "--sandbox", options.sandbox]
    if request.cwd:
        argv += ["-C", request.cwd]
    if options.model:
        argv += ["-m", options.model]
    config = list(options.extra_config)
    if request.mcp_url:
        config.append(f'mcp_servers.orcha.url="{request.mcp_url}"')
        # codex exec cancels MCP calls that would need an approval unless they are approved up front
        config.append('mcp_servers.orcha.default_tools_approval_mode="approve"')
        if request.mcp_token:
            config.append('mcp_servers.orcha.bearer_token_env_var="ORCHA_MCP_TOKEN"')
        # the role's brief, as Claude gets it with --append-system-prompt (a TOML string: JSON's escapes are TOML's)
        config.append(f"developer_instructions={json.dumps(ROLE_BRIEFS[request.role])}")
    for item in config:
        argv += ["-c", item]
    if resume:
        argv += ["resume", resume]
    return [*argv, "-"]


async def codex_tui_command(options: CodexOptions, request: StartRequest) -> AgentProgram:
    """Codex's interactive TUI (for tmux) with the same MCP settings. The token is read from a file only its
    owner can read into ``ORCHA_MCP_TOKEN``, so it never appears on a command line."""
    headless = codex_argv(options, request)
    options_only = headless[headless.index("--sandbox") : -1]  # without `exec --json` and the stdin marker
    command = [options.binary, *options_only]
    if not request.mcp_token or request.executor is None:
        return AgentProgram(argv=tuple(command))
    secret = await write_secret(
        request.executor, options.config_dir, request.session_id, ".token", request.mcp_token.encode()
    )
    script = f"ORCHA_MCP_TOKEN=$(cat {shlex.quote(secret.path)}) exec {shlex.join(command)}"
    return AgentProgram(argv=("sh", "-c", script), secrets=(secret,))


class CodexParser:
    def __init__(self) -> None:
        self.thread_id: str | None = None
        self.last_message = ""
        self.errors: list[str] = []
        self.finished = False

    def parse(self, line: str) -> list[AgentEvent]:
        try:
            event = json.loads(line)
        except ValueError:
            return []
        if not isinstance(event, dict):
            return []
        kind = event.get("type")
        if kind == "thread.started" and event.get("thread_id"):
            self.thread_id = str(event["thread_id"])
            return [ProviderSessionStarted(provider_session_id=self.thread_id)]
        if kind == "item.completed":
            return self._item(event.get("item") or {})
        if kind == "error":
            self.errors.append(str(event.get("message", "")))
            return [AgentError(message=str(event.get("message", "codex error")))]
        if kind == "turn.completed":
            self.finished = True
            usage = event.get("usage") or {}
            return [
                UsageReport(
                    model_calls=1,
                    input_tokens=int(usage.get("input_tokens") or 0),
                    output_tokens=int(usage.get("output_tokens") or 0),
                ),
                TurnCompleted(final_text=self.last_message),
            ]
        if kind == "turn.failed":
            self.finished = True
            message = str((event.get("error") or {}).get("message", "the turn failed"))
            limit = codex_limit(message)
            return [limit] if limit is not None else [TurnCompleted(final_text=message, failed=True)]
        return []

    def _item(self, item: dict[str, Any]) -> list[AgentEvent]:
        kind, ident = item.get("type"), str(item.get("id", ""))
        if kind == "agent_message":
            self.last_message = str(item.get("text", ""))
            return [TextOut(text=self.last_message)]
        if kind == "command_execution":
            failed = item.get("status") in ("failed", "declined") or (item.get("exit_code") or 0) != 0
            return [
                ToolCall(call_id=ident, name="shell", arguments={"command": item.get("command")}),
                ToolResult(call_id=ident, output=str(item.get("aggregated_output", ""))[:20_000], is_error=failed),
            ]
        if kind == "file_change":
            changes = item.get("changes") or []
            summary = ", ".join(f"{c.get('kind')} {c.get('path')}" for c in changes if isinstance(c, dict))
            return [
                ToolCall(call_id=ident, name="file_change", arguments={"changes": changes}),
                ToolResult(call_id=ident, output=summary, is_error=item.get("status") == "failed"),
            ]
        if kind == "mcp_tool_call":
            error = (item.get("error") or {}).get("message")
            result = item.get("result") or {}
            output = error or json.dumps(result.get("content") or result, default=str)[:20_000]
            return [
                ToolCall(
                    call_id=ident,
                    name=f"{item.get('server')}.{item.get('tool')}",
                    arguments=item.get("arguments") or {},
                ),
                ToolResult(call_id=ident, output=output, is_error=item.get("status") == "failed"),
            ]
        if kind == "error":
            return [AgentError(message=str(item.get("message", "")))]
        return []


class CodexRun:
    """One ``codex exec`` process: one turn."""

    def __init__(self, process: RunningCommand) -> None:
        self._process = process
        self._parser = CodexParser()
        self._canceled = False

    def events(self) -> AsyncIterator[AgentEvent]:
        lines = self._process.lines()
        ended = False

        async def step() -> list[AgentEvent] | None:
            nonlocal ended
            if ended:
                return None
            line = await anext(lines, None)
            if line is not None:
                batch: list[AgentEvent] = []
                for event in self._parser.parse(line):
                    if isinstance(event, Exhausted):  # the reset time is only in the stderr log
                        await self._process.wait()
                        event = codex_limit(event.message, self._process.stderr_tail()) or event
                    batch.append(event)
                return batch
            ended = True
            return await self._ending()

        return Batches(step)

    async def _ending(self) -> list[AgentEvent] | None:
        """After the last line: reap the process; a usage limit or a crash that left no completion."""
        if self._canceled:
            return None
        code = await self._process.wait()
        if self._parser.finished:
            return None
        stderr = self._process.stderr_tail()
        limit = codex_limit(" ".join(self._parser.errors), stderr)
        if limit is not None:
            return [limit]
        if code != 0:
            tail = " ".join(stderr.strip().splitlines()[-2:])[-300:]
            return [TurnCompleted(final_text=f"codex exited {code}: {tail}", failed=True)]
        return None

    async def send(self, text: str) -> None:
        raise RuntimeError("codex exec is not interactive: steer it with cancel + resume")

    async def cancel(self) -> None:
        if not self._canceled:
            self._canceled = True
            await self._process.kill(grace=3.0)

    async def interrupt(self) -> None:
        """orcha is stopping: stop the process group well within orcha's 2 s (it resumes at the next start)."""
        if not self._canceled:
            self._canceled = True
            await self._process.kill(grace=1.0)


class CodexProvider:
    capabilities = Capabilities(interactive=False, screen=False)

    def __init__(self, options: CodexOptions | None = None, *, name: str = "codex") -> None:
        self.name = name
        self.options = options or CodexOptions()

    async def start(self, request: StartRequest) -> CodexRun:
        return await self._spawn(request, request.prompt, resume=None)

    async def resume(self, request: StartRequest, provider_session_id: str, text: str) -> CodexRun:
        return await self._spawn(request, text, resume=provider_session_id)

    async def _spawn(self, request: StartRequest, prompt: str, *, resume: str | None) -> CodexRun:
        if request.executor is None:
            raise CommandError(f"session {request.session_id} has no executor to run codex on")
        env = {SESSION_VARIABLE: request.session_id}
        if request.mcp_token:
            env["ORCHA_MCP_TOKEN"] = request.mcp_token
        argv = codex_argv(self.options, request, resume)
        process = await request.executor.start(
            argv, cwd=request.cwd, env=env, before_exec=request.record_process, input=prompt.encode()
        )
        await process.close_stdin()  # never left open: codex would wait for more input
        return CodexRun(process)
