"""An in-process, scriptable, deterministic agent provider (its script steps: :mod:`orcha.agents.fake_steps`).

A script is a sequence of steps (say something, call a tool, edit a file, ask a question, hit an error, run
out of quota, wait, complete). Each step that stands for a model call reports one model call of usage. The
fake keeps each conversation's place in its script by provider session id, so ``resume`` carries on where the
last turn stopped, as a real agent's conversation does; with a ``progress`` book (the store) that place is
durable, so a fake resumed after orcha was killed carries on too. Its tool calls carry ids (as a real
provider's do), so a call it replays after a restart returns the first call's result. It records what it
received (starts, resumes, sent messages, cancels) so tests can prove how a session was steered.
"""

from __future__ import annotations

import collections
import secrets
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, Protocol

import attrs
import trio

from orcha.agents import fake_team
from orcha.agents.contract import (
    AgentError,
    AgentEvent,
    Capabilities,
    Exhausted,
    ProviderSessionStarted,
    QuestionAsked,
    StartRequest,
    TextOut,
    ToolCall,
    ToolResult,
    TurnCompleted,
    UsageReport,
)
from orcha.agents.fake_steps import (
    NOTICE_PREFIXES,
    Ask,
    AwaitTeam,
    Call,
    Complete,
    Edit,
    EndTurn,
    Exhaust,
    Fail,
    Say,
    ScriptFactory,
    Step,
    Wait,
    mention,
    write_edit,
)
from orcha.agents.tools import ToolSurface

__all__ = [  # the script steps are defined in fake_steps and used through this module
    "Ask",
    "AwaitTeam",
    "Call",
    "Complete",
    "Edit",
    "EndTurn",
    "Exhaust",
    "Fail",
    "FakeProgress",
    "FakeProvider",
    "FakeRun",
    "Received",
    "Say",
    "ScriptFactory",
    "Step",
    "Wait",
]


@attrs.define
class _Conversation:
    provider_session_id: str
    steps: tuple[Step, ...]
    prompt: str = ""
    """The first turn's text (the script is made from it again when a restarted fake resumes)."""
    position: int = 0
    cost_usd: float = 0.0
    team: str = "the team has not reported yet"
    """What the last AwaitTeam saw (``{team}`` in a later Call's arguments)."""
    handled: tuple[int, str] | None = None
    """Where a Call's ``on_error`` took over the script, and the error it was given."""

    def saved(self) -> dict[str, Any]:
        """What a restarted fake needs to carry on (not the cost: a resumed process reports its own)."""
        return {"prompt": self.prompt, "position": self.position, "team": self.team, "handled": self.handled}


class FakeProgress(Protocol):
    """Where fake conversations are kept across restarts (the store; default: nowhere). Short, synchronous."""

    def fake_conversation(self, provider_session_id: str) -> dict[str, Any] | None: ...

    def save_fake_conversation(self, provider_session_id: str, data: dict[str, Any]) -> None: ...


@attrs.frozen(kw_only=True)
class Received:
    """One thing the fake was asked to do, in order: ``start``, ``resume``, ``send`` or ``cancel``."""

    action: str
    session_id: str
    text: str = ""
    provider_session_id: str | None = None


class FakeProvider:
    """A scriptable provider. ``interactive`` chooses how it is steered (send vs cancel + resume)."""

    def __init__(
        self,
        scripts: ScriptFactory,
        *,
        name: str = "fake",
        interactive: bool = True,
        late_completion: bool = False,
        cost_per_call: float = 0.001,
        clock: Callable[[], float] = time.time,
        progress: FakeProgress | None = None,
    ) -> None:
        self.name = name
        self.clock = clock
        self.capabilities = Capabilities(interactive=interactive, screen=False)
        self._scripts = scripts
        self._late_completion = late_completion
        self._cost_per_call = cost_per_call
        self._progress = progress
        self._conversations: dict[str, _Conversation] = {}
        self.received: list[Received] = []

    # --- what tests read ---

    def actions(self, action: str, session_id: str | None = None) -> list[Received]:
        return [r for r in self.received if r.action == action and session_id in (None, r.session_id)]

    # --- the provider contract ---

    async def start(self, request: StartRequest) -> FakeRun:
        await trio.lowlevel.checkpoint()
        psid = f"{self.name}-{secrets.token_hex(4)}-{request.session_id}"
        self._conversations[psid] = _Conversation(psid, tuple(self._scripts(request)), prompt=request.prompt)
        self.save(self._conversations[psid])
        self.received.append(
            Received(action="start", session_id=request.session_id, text=request.prompt, provider_session_id=psid)
        )
        return FakeRun(self, request, self._conversations[psid], request.prompt, announce=True)

    async def resume(self, request: StartRequest, provider_session_id: str, text: str) -> FakeRun:
        await trio.lowlevel.checkpoint()
        conversation = self._conversations.get(provider_session_id) or self._restore(request, provider_session_id)
        if conversation is None:
            raise LookupError(f"no conversation found with session id {provider_session_id}")
        self.received.append(
            Received(action="resume", session_id=request.session_id, text=text, provider_session_id=provider_session_id)
        )
        return FakeRun(self, request, conversation, text, announce=True)

    def save(self, conversation: _Conversation) -> None:
        if self._progress is not None:
            self._progress.save_fake_conversation(conversation.provider_session_id, conversation.saved())

    def _restore(self, request: StartRequest, provider_session_id: str) -> _Conversation | None:
        """A conversation a previous orcha process kept: its script made again, at its place."""
        data = self._progress.fake_conversation(provider_session_id) if self._progress is not None else None
        if data is None:
            return None
        prompt = str(data["prompt"])
        steps = tuple(self._scripts(attrs.evolve(request, prompt=prompt)))
        conversation = _Conversation(provider_session_id, steps, prompt=prompt, team=str(data["team"]))
        conversation.position = int(data["position"])
        if data.get("handled"):
            at, error = int(data["handled"][0]), str(data["handled"][1])
            _take_over(conversation, at, error)
        self._conversations[provider_session_id] = conversation
        return conversation


def _take_over(conversation: _Conversation, at: int, error: str) -> None:
    """The Call just before ``at`` failed: its ``on_error`` steps replace the rest of the script."""
    step = conversation.steps[at - 1]
    if isinstance(step, Call) and step.on_error is not None:
        handling = tuple(mention(s, error) for s in step.on_error)
        conversation.steps = conversation.steps[:at] + handling
        conversation.handled = (at, error)


class FakeRun:
    """One run of a fake conversation; its event iterator keeps its place across cancellation."""

    def __init__(
        self,
        provider: FakeProvider,
        request: StartRequest,
        conversation: _Conversation,
        first_input: str,
        *,
        announce: bool,
    ) -> None:
        self._provider = provider
        self._request = request
        self._conversation = conversation
        self._pending: collections.deque[AgentEvent] = collections.deque()
        self._pending_tool: Call | None = None
        self._inputs_send, self._inputs = trio.open_memory_channel[str](100)
        self._turn_open = True
        self._ended = False
        self._canceled = False
        self._late: list[AgentEvent] = []
        self._turn_text: str | None = first_input
        """What started the turn now played, until its first step (``None`` after it)."""
        if announce:
            self._pending.append(ProviderSessionStarted(provider_session_id=conversation.provider_session_id))

    @property
    def provider_session_id(self) -> str:
        return self._conversation.provider_session_id

    def events(self) -> AsyncIterator[AgentEvent]:
        return self

    def __aiter__(self) -> FakeRun:
        return self

    async def __anext__(self) -> AgentEvent:
        while True:
            if self._canceled:
                if self._late:
                    return self._late.pop(0)
                raise StopAsyncIteration
            if self._pending:
                return self._pending.popleft()
            if self._pending_tool is not None:
                await self._finish_tool(self._pending_tool)
                continue
            if self._ended:
                raise StopAsyncIteration
            if not self._turn_open:
                if not self._provider.capabilities.interactive:
                    self._ended = True
                    continue
                try:
                    self._turn_text = await self._inputs.receive()
                except (trio.EndOfChannel, trio.ClosedResourceError):
                    self._ended = True
                    continue
                self._turn_open = True
                continue
            await self._step()

    async def send(self, text: str) -> None:
        if not self._provider.capabilities.interactive:
            raise RuntimeError("this fake run is not interactive: steer it with cancel + resume")
        self._provider.received.append(
            Received(
                action="send",
                session_id=self._request.session_id,
                text=text,
                provider_session_id=self.provider_session_id,
            )
        )
        await self._inputs_send.send(text)

    async def cancel(self) -> None:
        if self._canceled:
            return
        self._provider.received.append(
            Received(action="cancel", session_id=self._request.session_id, provider_session_id=self.provider_session_id)
        )
        self._canceled = True
        if self._provider._late_completion and self._turn_open:
            self._late.append(TurnCompleted(final_text="(late) finished after all"))
        self._inputs_send.close()
        await trio.lowlevel.checkpoint()

    # --- the script ---

    def _model_call(self, text: str) -> UsageReport:
        self._conversation.cost_usd += self._provider._cost_per_call
        return UsageReport(
            model_calls=1,
            input_tokens=100 + len(text) // 4,
            output_tokens=20 + len(text) // 8,
            cost_total_usd=round(self._conversation.cost_usd, 6),
        )

    def _end_turn(self, event: AgentEvent) -> None:
        self._pending.append(event)
        self._turn_open = False
        self._provider.save(self._conversation)  # a turn's end is a place to resume from (after a question)

    async def _step(self) -> None:
        conversation = self._conversation
        self._provider.save(conversation)  # every step before this one is done, its effects made
        if conversation.position >= len(conversation.steps):
            self._end_turn(TurnCompleted(final_text="ok"))
            return
        step = conversation.steps[conversation.position]
        conversation.position += 1
        turn_text, self._turn_text = self._turn_text, None
        match step:
            case Say(text):
                self._pending.extend([self._model_call(text), TextOut(text=text)])
            case Call(tool, arguments):
                self._pending.extend(
                    [
                        self._model_call(tool),
                        ToolCall(call_id=self._call_id(), name=tool, arguments=self._filled(arguments)),
                    ]
                )
                self._pending_tool = step
            case Edit(path, summary):
                self._write(path, summary)
                call_id = f"edit_{conversation.position}"
                self._pending.extend(
                    [
                        self._model_call(path),
                        ToolCall(call_id=call_id, name="Edit", arguments={"file_path": path}),
                        ToolResult(call_id=call_id, output=summary),
                    ]
                )
            case Ask(question):
                self._pending.extend([self._model_call(question), QuestionAsked(text=question)])
                self._end_turn(TurnCompleted(final_text=question))
            case Fail(message):
                self._pending.extend([self._model_call(message), AgentError(message=message)])
            case Exhaust(message, resets_in, billing):
                resets_at = None if resets_in is None else self._provider.clock() + resets_in
                self._pending.append(Exhausted(message=message, resets_at=resets_at, billing=billing))
                self._turn_open = False
                self._ended = True
            case Wait(seconds):
                await trio.sleep(seconds)
            case EndTurn(text):
                self._end_turn(TurnCompleted(final_text=text))
            case Complete(text, failed):
                self._pending.append(self._model_call(text))
                self._end_turn(TurnCompleted(final_text=text, failed=failed))
            case AwaitTeam(poll_seconds) if poll_seconds is not None:
                summary = await self._await_team(poll_seconds)
                self._conversation.team = summary
                self._pending.extend([self._model_call(summary), TextOut(text=summary)])
            case AwaitTeam():
                await self._look_at_team(turn_text)

    def _write(self, path: str, summary: str) -> None:
        """Edit for real when the session has a checkout: the fake stands in for the model, not the files."""
        line = f"# {summary} ({self._request.session_id}, step {self._conversation.position})\n"
        write_edit(self._request.cwd, path, line)

    def _filled(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """A call's arguments with ``{team}`` replaced by what the last AwaitTeam saw: the same in the logged
        call as in the one the tool gets."""
        team = self._conversation.team
        return {k: v.replace("{team}", team) if isinstance(v, str) else v for k, v in arguments.items()}

    def _call_id(self) -> str:
        """The id of the call at the current step: the same when a restarted fake replays it."""
        return f"call_{self._conversation.provider_session_id}_{self._conversation.position}"

    async def _finish_tool(self, step: Call) -> None:
        self._pending_tool = None
        call_id = self._call_id()
        if self._request.tools is None:
            self._pending.append(ToolResult(call_id=call_id, output="no tools available", is_error=True))
            return
        outcome = await self._request.tools.call(step.tool, self._filled(step.arguments), call_id=call_id)
        self._pending.append(ToolResult(call_id=call_id, output=outcome.text, is_error=outcome.is_error))
        if outcome.is_error:
            self._pending.append(AgentError(message=f"{step.tool}: {outcome.text}"))
            _take_over(self._conversation, self._conversation.position, outcome.text)

    async def _pass_on(self, tools: ToolSurface, live_workers: list[str]) -> None:
        """What the user said to the manager while its team works (an answer) goes on to the working workers
        (not to one waiting on its own question: a message would stand in for that answer)."""
        while True:
            try:
                text = self._inputs.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                return
            self._pending.append(TextOut(text=f"passing on to the team: {text}"))
            for worker in live_workers:
                await tools.call("message_session", {"session": worker, "text": f"From your manager: {text}"})

    async def _await_team(self, poll_seconds: float) -> str:
        if self._request.tools is None:
            return "no tools: cannot watch the team"
        while True:
            workers = await fake_team.workers(self._request.tools.call)
            await self._pass_on(self._request.tools, fake_team.running(workers))
            if fake_team.finished(workers):
                return await fake_team.team_report(self._request.tools.call, workers)
            await trio.sleep(poll_seconds)

    async def _look_at_team(self, turn_text: str | None) -> None:
        """AwaitTeam without polling: one look at the team; unless it has finished, the turn ends and the next
        turn (a team notice, a message) plays this step again. A message from the user that starts a turn
        here is passed on to the working workers, as a manager would."""
        tools = self._request.tools
        if tools is None:
            self._conversation.team = "no tools: cannot watch the team"
            return
        workers = await fake_team.workers(tools.call)
        if fake_team.finished(workers):
            summary = await fake_team.team_report(tools.call, workers)
            self._conversation.team = summary
            self._pending.extend([self._model_call(summary), TextOut(text=summary)])
            return
        live = fake_team.running(workers)
        if turn_text and not turn_text.startswith(NOTICE_PREFIXES) and live:
            self._pending.append(TextOut(text=f"passing on to the team: {turn_text}"))
            for worker in live:
                await tools.call("message_session", {"session": worker, "text": f"From your manager: {turn_text}"})
        still = fake_team.still_at_work(workers)
        self._conversation.position -= 1  # the next turn looks again
        text = f"Waiting for my team ({still} still at work)."
        self._pending.append(self._model_call(text))
        self._end_turn(TurnCompleted(final_text=text))
