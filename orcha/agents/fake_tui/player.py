"""The fake agent TUI's player: a fake agent's script (:mod:`orcha.agents.scripts`), played turn by turn.

Every input (the prompt typed into the pane, then each steering message, answer or team notice) is one
turn, and every turn ends with a ``turn`` report, as each user message to Claude Code ends with its result:
so orcha's count of the turns it typed matches the turn ends it reads. A turn plays the script on from where
it stopped until a step ends the turn:

- ``Ask``: the question is reported (orcha asks the user), the turn ends; the answer, typed in, goes on.
- ``AwaitTeam``: the turn ends ("waiting for my team"); each later input is a turn that looks at the team
  (``list_sessions``) and goes on once every worker has ended (the "your team has finished" notice), or
  else acknowledges the input and passes a message from the user on to the working workers.
- ``EndTurn``, ``Complete`` and the script's end: the turn ends; after ``Complete`` an input is
  acknowledged only.

Each step that stands for a model call reports one model call of usage, as the in-process fake does. Tool
calls go through a :class:`~orcha.agents.tools.ToolSurface` (the session's MCP endpoint); a call that
cannot reach orcha ends the turn failed, saying why, and the next input tries it again. With a
:class:`Progress` book its place is saved after every step and turn end, and :meth:`Player.restore` takes it
back up (:mod:`orcha.agents.fake_tui.progress`).
"""

from __future__ import annotations

import enum
import json
import time
from collections.abc import AsyncIterable, Mapping
from typing import Any, Protocol

import attrs
import trio

from orcha.agents import fake_team
from orcha.agents.contract import StartRequest
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
from orcha.agents.pane_reports import report
from orcha.agents.scripts import default_script
from orcha.agents.tools import ToolOutcome, ToolSurface
from orcha.errors import OrchaError
from orcha.model import SessionRole


class OrchaUnreachableError(OrchaError):
    """orcha's MCP endpoint could not be reached for a while, or it refused the request (the secret, a 4xx)."""

    code = "orcha_unreachable"


class Progress(Protocol):
    """Where the player's place is kept (short, synchronous)."""

    def load(self) -> dict[str, Any] | None: ...

    def save(self, data: dict[str, Any]) -> None: ...


class Screen(Protocol):
    def line(self, text: str, *reports: str) -> None:
        """Print ``text`` as one line (more lines: indented), the ``reports`` on it, invisible."""


@attrs.frozen(kw_only=True)
class Identity:
    """Who the fake agent is: from its command line (nothing secret)."""

    session_id: str
    objective_id: str
    role: SessionRole
    agent: str
    cwd: str | None = None


class Waiting(enum.Enum):
    """What the next input is for."""

    PROMPT = "prompt"
    SCRIPT = "script"
    TEAM = "team"
    DONE = "done"


class Player:
    """Plays one session's script; :meth:`take` one input, :meth:`play` them all."""

    def __init__(
        self,
        identity: Identity,
        tools: ToolSurface | None,
        screen: Screen,
        *,
        scripts: ScriptFactory = default_script,
        cost_per_call: float = 0.001,
        progress: Progress | None = None,
    ) -> None:
        self.identity = identity
        self._tools = tools
        self._screen = screen
        self._scripts = scripts
        self._cost_per_call = cost_per_call
        self.steps: tuple[Step, ...] = ()
        self.position = 0
        self.waiting = Waiting.PROMPT
        self.busy = False
        """Whether a turn is being played (an input typed now waits for it to end)."""
        self.failed = False
        """Whether the last turn failed."""
        self.turns = 0
        self._team = "the team has not reported yet"
        self._final = ""
        self._progress = progress
        self._prompt = ""
        self._handled: tuple[int, str] | None = None

    def restore(self) -> bool:
        """Take up the place the progress book kept (a TUI before this one played the script this far), if any;
        whether there was one. The next input then goes where that TUI's would have."""
        data = self._progress.load() if self._progress is not None else None
        if not data or not isinstance(data.get("prompt"), str) or data.get("waiting") == Waiting.PROMPT.value:
            return False
        try:
            waiting, position = Waiting(data["waiting"]), int(data["position"])
        except (KeyError, TypeError, ValueError):
            return False
        self._start(str(data["prompt"]))
        handled = data.get("handled")
        if isinstance(handled, list) and len(handled) == 2:
            self._take_over(int(handled[0]), str(handled[1]))
        self.position, self.waiting = min(max(position, 0), len(self.steps)), waiting
        self._team, self._final = str(data.get("team") or self._team), str(data.get("final") or "")
        self._screen.line(f"(carrying on from step {self.position} of {len(self.steps)} of the last run)")
        return True

    def _start(self, prompt: str) -> None:
        self._prompt = prompt
        request = StartRequest(
            session_id=self.identity.session_id,
            objective_id=self.identity.objective_id,
            role=self.identity.role,
            agent=self.identity.agent,
            prompt=prompt,
            cwd=self.identity.cwd,
        )
        self.steps = tuple(self._scripts(request))

    def _save(self) -> None:
        if self._progress is not None and self.waiting is not Waiting.PROMPT:
            self._progress.save(
                {
                    "prompt": self._prompt,
                    "position": self.position,
                    "waiting": self.waiting.value,
                    "team": self._team,
                    "final": self._final,
                    "handled": list(self._handled) if self._handled else None,
                }
            )

    async def play(self, inputs: AsyncIterable[str]) -> int:
        """Take every input until they end; the exit status: 1 when the last turn failed, else 0."""
        async for text in inputs:
            await self.take(text)
        return 1 if self.failed else 0

    async def take(self, text: str) -> None:
        """One input, one turn: it ends with exactly one ``turn`` report."""
        self.busy = True
        try:
            match self.waiting:
                case Waiting.PROMPT:
                    self._start(text)
                    self.waiting = Waiting.SCRIPT
                    await self._play()
                case Waiting.SCRIPT:
                    await self._play()
                case Waiting.TEAM:
                    await self._look_at_team(text)
                case Waiting.DONE:
                    shown = f"Noted. My work here is done: {self._final}"
                    self._end_turn(shown, self._final, failed=self.failed, waiting=Waiting.DONE)
        except OrchaUnreachableError as exc:
            self._screen.line(f"  ⎿  ✗ {exc}", report("error", message=str(exc)))
            waiting = Waiting.TEAM if self.waiting is Waiting.TEAM else Waiting.SCRIPT
            self._end_turn("I cannot reach orcha; type a message to try again.", str(exc), failed=True, waiting=waiting)
        finally:
            self.busy = False

    # --- the script ---------------------------------------------------------------------------------------

    async def _play(self) -> None:
        """Play steps on until one ends the turn (or the script does)."""
        while self.position < len(self.steps):
            step = self.steps[self.position]
            self.position += 1
            ended = await self._step(step)
            self._save()  # every step up to here is done, its effects made
            if ended:
                return
        self._end_turn("Done.", "ok", waiting=Waiting.DONE)

    async def _step(self, step: Step) -> bool:
        """Play one step; whether it ended the turn."""
        match step:
            case Say(text):
                self._screen.line(f"● {text}", self._usage(text))
            case Call():
                return await self._call(step)
            case Edit(path, summary):
                write_edit(self.identity.cwd, path, f"# {summary} ({self.identity.session_id}, step {self.position})\n")
                self._screen.line(f"● Edit({path})", self._usage(path))
                self._screen.line(f"  ⎿  {summary}")
            case Ask(question):
                self._screen.line(f"? {question}", self._usage(question), report("question", text=question))
                self._end_turn("(waiting for the answer)", question)
                return True
            case Fail(message):
                self._screen.line(f"✗ {message}", self._usage(message), report("error", message=message))
            case Exhaust(message, resets_in, billing):
                resets_at = None if resets_in is None else time.time() + resets_in
                self._screen.line(
                    f"✗ {message}", report("exhausted", message=message, resets_at=resets_at, billing=billing)
                )
                self._end_turn("(out of quota)", message, failed=True)  # resumed, it goes on after this step
                return True
            case Wait(seconds):
                await trio.sleep(seconds)
            case EndTurn(text):
                self._end_turn(text or "(my turn ends)", text)
                return True
            case Complete(text, failed):
                self._screen.line(f"✻ {text}", self._usage(text))
                self._end_turn("✗ failed" if failed else "✓ done", text, failed=failed, waiting=Waiting.DONE)
                return True
            case AwaitTeam():
                self._end_turn("Waiting for my team: I go on when it has finished.", "waiting for my team",
                               waiting=Waiting.TEAM)  # fmt: skip
                return True
        return False

    async def _call(self, step: Call) -> bool:
        team = self._team
        arguments = {k: v.replace("{team}", team) if isinstance(v, str) else v for k, v in step.arguments.items()}
        self._screen.line(f"● {step.tool}({_shown(arguments)})", self._usage(step.tool))
        try:
            outcome = await self._tool(step.tool, arguments)
        except OrchaUnreachableError:
            self.position -= 1  # the next input tries this call again
            raise
        first = outcome.text.strip().splitlines()[0] if outcome.text.strip() else "(no output)"
        if not outcome.is_error:
            self._screen.line(f"  ⎿  {first}")
            return False
        self._screen.line(f"  ⎿  ✗ {first}", report("error", message=f"{step.tool}: {outcome.text}"))
        self._take_over(self.position, outcome.text)
        return False

    def _take_over(self, at: int, error: str) -> None:
        """The call just before ``at`` failed: its ``on_error`` steps (a careful agent's) replace the rest."""
        step = self.steps[at - 1] if 0 < at <= len(self.steps) else None
        if isinstance(step, Call) and step.on_error is not None:
            self.steps = self.steps[:at] + tuple(mention(s, error) for s in step.on_error)
            self._handled = (at, error)

    async def _tool(self, name: str, arguments: Mapping[str, Any]) -> ToolOutcome:
        if self._tools is None:
            return ToolOutcome(text="no tools available (no MCP endpoint)", is_error=True)
        return await self._tools.call(name, arguments)

    # --- a manager's team ---------------------------------------------------------------------------------

    async def _look_at_team(self, text: str) -> None:
        workers = await fake_team.workers(self._tool)
        if fake_team.finished(workers) or "team has finished" in text:
            self._team = await fake_team.team_report(self._tool, workers)
            self._screen.line(f"● {self._team}", self._usage(self._team))
            await self._play()
            return
        live = fake_team.running(workers)
        if not text.startswith(NOTICE_PREFIXES) and live:
            for worker in live:
                await self._tool("message_session", {"session": worker, "text": f"From your manager: {text}"})
            self._screen.line(f"  ⎿  passed on to {len(live)} worker(s)")
        still = fake_team.still_at_work(workers)
        self._end_turn(f"Noted; waiting for my team ({still} still at work).", "waiting for my team",
                       waiting=Waiting.TEAM)  # fmt: skip

    # --- turn ends and usage ------------------------------------------------------------------------------

    def _end_turn(self, shown: str, final: str, *, failed: bool = False, waiting: Waiting = Waiting.SCRIPT) -> None:
        self.turns += 1
        self.failed = failed
        self.waiting = waiting
        if waiting is Waiting.DONE:
            self._final = final
        self._save()
        self._screen.line(f"  {shown}", report("turn", final=final, failed=failed))

    def _usage(self, text: str) -> str:
        """The report of one model call (the same counts as the in-process fake's)."""
        return report(
            "usage",
            model_calls=1,
            input_tokens=100 + len(text) // 4,
            output_tokens=20 + len(text) // 8,
            cost_usd=self._cost_per_call,
        )


def _shown(arguments: Mapping[str, Any], limit: int = 60) -> str:
    """Tool arguments as a TUI shows them: ``prompt: "Part 1 of …"``."""
    parts = []
    for key, value in arguments.items():
        text = json.dumps(value, ensure_ascii=False)
        parts.append(f"{key}: {text if len(text) <= limit else text[: limit - 1] + '…'}")
    return ", ".join(parts)
