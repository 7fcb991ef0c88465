"""Usage-limit detection for agent CLIs, in the documented order, telling billing from timed windows."""

from __future__ import annotations

import re
from typing import Any

from orcha.agents.contract import Exhausted

_LEGACY = re.compile(r"usage limit reached\|(\d{9,11})", re.IGNORECASE)
_CLAUDE_TEXT = re.compile(r"hit your limit|usage limit reached|reached your session limit|limit reached ∙", re.I)
_CODEX_TEXT = re.compile(r"hit your usage limit|usage_limit_reached|out of credits", re.IGNORECASE)
_BILLING_TEXT = re.compile(r"out of credits|credits_required|billing|purchase more credits", re.IGNORECASE)
_RESETS_AT = re.compile(r'"resets_at"\s*:\s*(\d{9,11})')


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
        return Exhausted(
            message=f"rate limit rejected ({info.get('rateLimitType', 'unknown window')})",
            resets_at=float(resets) if resets else None,
            billing=billing,
        )
    if kind == "assistant" and message.get("error") in ("rate_limit", "billing_error"):
        text = _assistant_text(message)
        return Exhausted(
            message=text or str(message["error"]),
            resets_at=_legacy_reset(text),
            billing=message["error"] == "billing_error",
        )
    if kind == "result" and message.get("is_error"):
        text = str(message.get("result") or "")
        legacy = _legacy_reset(text)
        if message.get("api_error_status") == 429 or legacy is not None or _CLAUDE_TEXT.search(text):
            return Exhausted(
                message=text or "usage limit (HTTP 429)", resets_at=legacy, billing=bool(_BILLING_TEXT.search(text))
            )
    return None


def codex_limit(text: str, stderr: str = "") -> Exhausted | None:
    """An exhaustion in a Codex error message (and its stderr log, where the JSON body has ``resets_at``)."""
    if not _CODEX_TEXT.search(text) and not _CODEX_TEXT.search(stderr):
        return None
    resets_at = None
    if match := _RESETS_AT.search(stderr):
        resets_at = float(match.group(1))
    return Exhausted(
        message=text or "usage limit reached", resets_at=resets_at, billing=bool(_BILLING_TEXT.search(text))
    )


def _legacy_reset(text: str) -> float | None:
    match = _LEGACY.search(text)
    return float(match.group(1)) if match else None


def _assistant_text(message: dict[str, Any]) -> str:
    content = (message.get("message") or {}).get("content") or []
    return " ".join(block.get("text", "") for block in content if isinstance(block, dict)).strip()
