"""Usage-limit detection for agent CLIs, in the documented order, telling billing from timed windows.

A limit with a reset time is a timed window, whatever else the message says: Codex's "… purchase more credits
or try again at 3:39 AM" waits for the reset like any window. Billing exhaustion is a limit with no way back
but the user (out of credits, a billing error) and no reset time.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta
from typing import Any

from orcha.agents.contract import Exhausted

_LEGACY = re.compile(r"usage limit reached\|(\d{9,11})", re.IGNORECASE)
_CLAUDE_TEXT = re.compile(r"hit your limit|usage limit reached|reached your session limit|limit reached ∙", re.I)
_CODEX_TEXT = re.compile(r"hit your usage limit|usage_limit_reached|out of credits", re.IGNORECASE)
_BILLING_TEXT = re.compile(r"out of credits|credits_required|billing|purchase more credits", re.IGNORECASE)
_RESETS_AT = re.compile(r'"resets_at"\s*:\s*(\d{9,11})')
_TRY_AGAIN = re.compile(r"try again (?:at|in)\b", re.IGNORECASE)
_TRY_AGAIN_IN = re.compile(r"try again in (\d+(?:\.\d+)?)\s*(second|sec|s|minute|min|m|hour|hr|h|day|d)s?\b", re.I)
_TRY_AGAIN_AT = re.compile(
    r"try again at (?:(?P<month>[A-Z][a-z]{2,8})\.? (?P<day>\d{1,2})(?:st|nd|rd|th)?,? (?P<year>\d{4}),? )?"
    r"(?P<hour>\d{1,2}):(?P<minute>\d{2})\s*(?P<ampm>[AP]\.?M\.?)?",
    re.IGNORECASE,
)
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_UNITS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hr": 3600, "hour": 3600}


def claude_limit(message: dict[str, Any]) -> Exhausted | None:
    """An exhaustion signalled by one Claude stream-json line, or ``None``.

    Order: (1) ``rate_limit_event`` with status ``rejected`` (its ``resetsAt``); (2) an assistant ``error`` of
    ``rate_limit`` / ``billing_error``, or a result with ``api_error_status`` 429; (3) the text of a result.
    ``allowed`` and ``allowed_warning`` events are telemetry, never a block.
    """
    kind = message.get("type")
    if kind == "rate_limit_event":
        info = message.get("rate_limit_info") or {}
        if info.get("status") != "rejected":
            return None
        billing = info.get("errorCode") == "credits_required" or info.get("overageDisabledReason") == "out_of_credits"
        resets = info.get("resetsAt")
        return _limit(
            f"rate limit rejected ({info.get('rateLimitType', 'unknown window')})",
            resets_at=float(resets) if resets else None,
            billing=billing,
        )
    if kind == "assistant" and message.get("error") in ("rate_limit", "billing_error"):
        text = _assistant_text(message)
        return _limit(
            text or str(message["error"]),
            resets_at=_legacy_reset(text),
            billing=message["error"] == "billing_error" and not _TRY_AGAIN.search(text),
        )
    if kind == "result" and message.get("is_error"):
        text = str(message.get("result") or "")
        legacy = _legacy_reset(text)
        if message.get("api_error_status") == 429 or legacy is not None or _CLAUDE_TEXT.search(text):
            billing = bool(_BILLING_TEXT.search(text)) and not _TRY_AGAIN.search(text)
            return _limit(text or "usage limit (HTTP 429)", resets_at=legacy, billing=billing)
    return None


def codex_limit(text: str, stderr: str = "", *, now: float | None = None) -> Exhausted | None:
    """An exhaustion in a Codex error message (and its stderr log, where the JSON body has ``resets_at``).

    The reset comes from the log's ``resets_at``, else from the message's "try again at 9:20 AM" (local time,
    the next such time; or a full date) or "try again in 5 minutes". A message offering to try again is a
    timed window even when it also offers to buy credits.
    """
    if not _CODEX_TEXT.search(text) and not _CODEX_TEXT.search(stderr):
        return None
    resets_at = None
    if match := _RESETS_AT.search(stderr):
        resets_at = float(match.group(1))
    else:
        resets_at = try_again_time(text, time.time() if now is None else now)
    billing = bool(_BILLING_TEXT.search(text)) and not _TRY_AGAIN.search(text)
    return _limit(text or "usage limit reached", resets_at=resets_at, billing=billing)


def try_again_time(text: str, now: float) -> float | None:
    """The Unix time a "try again at …" / "try again in …" message names, or ``None`` (local time of day)."""
    if match := _TRY_AGAIN_IN.search(text):
        unit = match.group(2).lower()
        seconds = 86400 if unit.startswith("d") else _UNITS[unit]
        return now + float(match.group(1)) * seconds
    match = _TRY_AGAIN_AT.search(text)
    if match is None:
        return None
    hour, minute, ampm = int(match["hour"]), int(match["minute"]), (match["ampm"] or "").replace(".", "").upper()
    if ampm:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if ampm == "PM" else 0)
    if hour > 23 or minute > 59:
        return None
    local_now = datetime.fromtimestamp(now)  # naive local time: .timestamp() follows the zone's DST
    if match["month"]:
        try:
            month = _MONTHS.index(match["month"][:3].lower()) + 1
            when = local_now.replace(
                year=int(match["year"]),
                month=month,
                day=int(match["day"]),
                hour=hour,
                minute=minute,
                second=0,
                microsecond=0,
            )
        except ValueError:
            return None
        return when.timestamp()
    when = local_now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if when.timestamp() <= now:
        when += timedelta(days=1)
    return when.timestamp()


def _limit(message: str, *, resets_at: float | None, billing: bool) -> Exhausted:
    """A limit with a reset time is a timed window, whatever else the message says."""
    return Exhausted(message=message, resets_at=resets_at, billing=billing and resets_at is None)


def _legacy_reset(text: str) -> float | None:
    match = _LEGACY.search(text)
    return float(match.group(1)) if match else None


def _assistant_text(message: dict[str, Any]) -> str:
    content = (message.get("message") or {}).get("content") or []
    return " ".join(block.get("text", "") for block in content if isinstance(block, dict)).strip()
