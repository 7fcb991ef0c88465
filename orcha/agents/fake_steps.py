"""The steps of a fake agent's script: what the scripted stand-in for a model says and does, in order."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

from orcha.agents.contract import StartRequest


@attrs.frozen
class Say:
    text: str


@attrs.frozen
class Call:
    """Call an orchestrator tool (spawn_session, publish_pr, …) through the session's tool surface.

    ``on_error``: what a careful agent does when the call comes back an error — these steps replace the rest
    of the script, with ``{error}`` in their text replaced by the tool's message. Without it the script
    carries on (the error shows in the transcript).
    """

    tool: str
    arguments: Mapping[str, Any] = attrs.field(factory=dict)
    on_error: tuple[Step, ...] | None = attrs.field(default=None, kw_only=True)


@attrs.frozen
class Edit:
    """Change a file (an agent-local tool: it shows in the transcript, orcha is not involved)."""

    path: str
    summary: str = "edited"


@attrs.frozen
class Ask:
    """Ask the user; the turn ends and the script goes on with the answer as the next turn."""

    question: str


@attrs.frozen
class Fail:
    """Hit an error (a failing tool, an API error) and carry on."""

    message: str


@attrs.frozen
class Exhaust:
    """Run out of quota: the run ends; ``resets_in`` seconds until the window resets (``None``: unknown)."""

    message: str = "usage limit reached"
    resets_in: float | None = None
    billing: bool = False


@attrs.frozen
class Wait:
    seconds: float


@attrs.frozen
class EndTurn:
    """End the turn without finishing the script (the next turn goes on from here)."""

    text: str = ""


@attrs.frozen
class Complete:
    text: str = "done"
    failed: bool = False


@attrs.frozen
class AwaitTeam:
    """Go on once every worker of the objective has ended, then report.

    With ``poll_seconds``, the in-process fake polls ``list_sessions`` within its turn. With ``None`` it waits
    as a manager that ends its turn does (and as the fake TUI always does): it looks at its team once, ends the
    turn ("waiting for my team") and looks again at each later turn (a team notice, a message), passing a
    message from the user on to the working workers."""

    poll_seconds: float | None = 1.0


NOTICE_PREFIXES = ("Update from your team", "Updates from your team", "You were restarted")
"""How orcha's own messages to a manager begin (not to be passed on to the workers)."""


Step = Say | Call | Edit | Ask | Fail | Exhaust | Wait | EndTurn | Complete | AwaitTeam
ScriptFactory = Callable[[StartRequest], Sequence[Step]]


def mention(step: Step, error: str) -> Step:
    """``step`` with ``{error}`` in its text replaced by ``error``."""
    match step:
        case Say(text) | EndTurn(text) | Complete(text):
            return attrs.evolve(step, text=text.replace("{error}", error))
        case Fail(message):
            return attrs.evolve(step, message=message.replace("{error}", error))
        case Ask(question):
            return attrs.evolve(step, question=question.replace("{error}", error))
    return step


def write_edit(cwd: str | None, path: str, line: str) -> None:
    """An Edit step for real: append ``line`` to ``path`` in the session's checkout ``cwd``, once (a step replayed
    after a restart edits the file once). Nothing without a checkout, or for a path outside it."""
    if cwd is None or path.startswith("/") or ".." in path.split("/"):
        return
    target = os.path.join(cwd, path)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target, "a+", encoding="utf-8") as handle:
        handle.seek(0)
        if line not in handle.read():
            handle.write(line)
