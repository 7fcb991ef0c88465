"""How a turn of a session's agent ended, as the session actor sees it."""

from __future__ import annotations

import attrs

from orcha import guards
from orcha.agents.contract import Exhausted


@attrs.frozen
class TurnCompletedOk:
    """The turn completed (``failed`` when the agent said so)."""

    final_text: str
    failed: bool


@attrs.frozen
class TurnTripped:
    trip: guards.Trip


@attrs.frozen
class TurnOutOfQuota:
    event: Exhausted


@attrs.frozen
class TurnInterrupted:
    """A non-interactive turn was cut short to be steered (cancel + resume)."""


@attrs.frozen
class RunEnded:
    """The run ended without completing its turn (the process died)."""


TurnOutcome = TurnCompletedOk | TurnTripped | TurnOutOfQuota | TurnInterrupted | RunEnded
