"""In-band reports of a program in a tmux pane that speaks them (orcha's fake agent TUI): model usage, a
question for the user, an error, out of quota, the end of a turn.

A report is an OSC escape sequence, ``ESC ] orcha;<json> BEL``, on a line the program prints. A terminal
ignores an OSC sequence it does not know, so a human watching the pane (or ``capture-pane``) sees only the
line's visible text; the pane log keeps the bytes, and :meth:`PaneReports.feed` takes the reports out of a
line. Only a provider that runs such a program reads them (``TmuxProvider(reports=True)``): whatever else a
pane prints stays text, so a shell or a real agent TUI cannot end its own turn or report usage by printing.

Usage reports carry the cost of their model calls (a delta); the reader turns them into the running total
the provider contract asks for, counted from the moment it started reading (a re-adopted pane's reader
counts from its offset: the session has the cost before it already).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from orcha.agents.contract import AgentError, AgentEvent, Exhausted, QuestionAsked, TurnCompleted, UsageReport

_REPORT = re.compile(r"\x1b\]orcha;([^\x07\x1b]*)\x07")
TEXT_LIMIT = 20_000
"""The longest text a report carries into orcha (question, error, a turn's final text)."""


def report(kind: str, **data: Any) -> str:
    """The escape sequence of one report (``kind``: ``usage``, ``question``, ``error``, ``exhausted``, ``turn``).

    JSON escapes every control character, so the sequence cannot end early or carry an escape of its own."""
    return f"\x1b]orcha;{json.dumps({'kind': kind, **data}, ensure_ascii=False)}\x07"


class PaneReports:
    """Takes the reports out of a pane's lines, as agent events; keeps the running cost of usage reports."""

    def __init__(self) -> None:
        self.cost_usd = 0.0

    def feed(self, line: str) -> tuple[str, list[AgentEvent]]:
        """``line`` without its reports, and the events they stand for, in order. A report that is not
        well-formed is dropped (the program is orcha's own: a bad one is a bug there, not input to act on)."""
        events: list[AgentEvent] = []
        for match in _REPORT.finditer(line):
            try:
                data = json.loads(match.group(1))
            except ValueError:
                continue
            event = self._event(data) if isinstance(data, dict) else None
            if event is not None:
                events.append(event)
        return _REPORT.sub("", line), events

    def _event(self, data: Mapping[str, Any]) -> AgentEvent | None:
        match data.get("kind"):
            case "usage":
                cost = _number(data.get("cost_usd"))
                self.cost_usd += cost
                return UsageReport(
                    model_calls=int(_number(data.get("model_calls"))),
                    input_tokens=int(_number(data.get("input_tokens"))),
                    output_tokens=int(_number(data.get("output_tokens"))),
                    cost_total_usd=round(self.cost_usd, 6),
                )
            case "question":
                text = _text(data.get("text"))
                return QuestionAsked(text=text) if text else None
            case "error":
                return AgentError(message=_text(data.get("message")) or "error")
            case "exhausted":
                resets_at = data.get("resets_at")
                return Exhausted(
                    message=_text(data.get("message")) or "usage limit reached",
                    resets_at=float(resets_at) if isinstance(resets_at, int | float) else None,
                    billing=data.get("billing") is True,
                )
            case "turn":
                return TurnCompleted(final_text=_text(data.get("final")), failed=data.get("failed") is True)
        return None


def _number(value: object) -> float:
    """A count or a cost: a finite number ≥ 0, else 0."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1e12:
        return 0.0
    return float(value)


def _text(value: object) -> str:
    return value[:TEXT_LIMIT] if isinstance(value, str) else ""
