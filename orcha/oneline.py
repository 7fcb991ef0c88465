"""One-line summaries: what a session was asked (:func:`task_of`) and what a transcript line says
(:func:`describe`), for the dashboard's rows. Pure; never raises, whatever the text.

A tool call's body is the JSON the session actor writes, ``{"tool": name, "arguments": {...}}`` (``input`` is
taken too): it reads as the tool and its key argument, ``Edit src/app.py``. A tool result reads ``✓ Edit`` or
``✗ Edit: <error's first line>``. Usage and system lines, and blank ones, say nothing (``None``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from orcha.model import TranscriptEntry, TranscriptKind

LIMIT = 160
"""A summary is at most this many characters (the cut marked with ``…``)."""
SCAN_CHARS = 65_536
"""Only this much of a body is looked at for its first line (a huge body costs no more than this)."""
PARSE_CHARS = 65_536
"""A tool call body longer than this is not parsed as JSON: its tool and key argument are found by pattern."""
SCAN_LINES = 64
"""How many of a session's newest lines in a batch :func:`latest` looks through for a meaningful one."""

KEY_ARGUMENTS = (
    "file_path",
    "path",
    "notebook_path",
    "command",
    "cmd",
    "pattern",
    "url",
    "query",
    "description",
    "prompt",
    "session_id",
    "session",
    "question",
    "title",
    "text",
    "name",
)
"""The argument that says what a tool call is about, the first one present (Claude's ``Edit{file_path}``,
``Bash{command}``, ``Grep{pattern}``, ``WebFetch{url}``, ``WebSearch{query}``, ``Task{description, prompt}``;
Codex's ``shell{command}``; orcha's own tools' ``session_id``, ``question``, ``title``, ``text``)."""

_UNSAFE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # ANSI CSI sequences (a tmux pane's colours)
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC sequences (titles, hyperlinks)
    r"|[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff\ud800-\udfff]"
)
_SPACE = re.compile(r"[\t\v\f\r ]+")
_TOOL = re.compile(r'"tool"\s*:\s*"((?:[^"\\]|\\.){1,200})"')
_ARGUMENT = re.compile(r'"(' + "|".join(KEY_ARGUMENTS) + r')"\s*:\s*"((?:[^"\\]|\\.){0,400})')


def cut(text: str, limit: int = LIMIT) -> str:
    """``text`` at most ``limit`` characters, an ellipsis marking the cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def clean(text: str) -> str:
    """``text`` without control characters, escape sequences, bidi overrides, lone surrogates or anything else
    unprintable, its runs of blanks made one space."""
    if text.isprintable():  # the common case: no control, format or unassigned characters
        return (_SPACE.sub(" ", text) if "  " in text else text).strip()
    flat = _SPACE.sub(" ", _UNSAFE.sub("", text))
    if not flat.isprintable():
        flat = "".join(ch for ch in flat if ch.isprintable())
    return flat.strip()


def first_line(text: object, limit: int = LIMIT) -> str | None:
    """The first line of ``text`` that is not blank once cleaned, cut to ``limit``; ``None`` if there is none."""
    if not isinstance(text, str):
        return None
    if len(text) <= limit and "\n" not in text and text.isprintable() and "  " not in text:
        return text.strip() or None  # one short clean line (most lines): what the loop below makes of it
    for line in text[:SCAN_CHARS].split("\n"):
        head = line.strip()
        flat = clean(head[: limit * 8])  # a long line costs no more than its head
        if flat:
            return cut(flat + "…" if len(head) > limit * 8 and len(flat) <= limit else flat, limit)
    return None


def task_of(prompt: str) -> str:
    """What a session was asked to do: its prompt's first non-blank line, cut to :data:`LIMIT` (``""``: none)."""
    return first_line(prompt) or ""


def _argument_text(value: object) -> str | None:
    if isinstance(value, str):
        return first_line(value)
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value[:20]):
        return first_line(" ".join(value[:20]))  # Codex: ["bash", "-lc", "ls"]
    return None


def _changes(value: object) -> str | None:
    """Codex's ``file_change{changes: [{path, kind}]}``: ``update a.py, add b.py``."""
    if not isinstance(value, list):
        return None
    parts = [
        " ".join(str(c[k]) for k in ("kind", "path") if isinstance(c.get(k), str))
        for c in value[:20]
        if isinstance(c, dict)
    ]
    return first_line(", ".join(p for p in parts if p))


def key_argument(arguments: object) -> str | None:
    """What a tool call's arguments are about (see :data:`KEY_ARGUMENTS`), else its first short string."""
    if not isinstance(arguments, Mapping):
        return _argument_text(arguments)
    for key in KEY_ARGUMENTS:
        found = _argument_text(arguments.get(key))
        if found:
            return found
    changes = _changes(arguments.get("changes"))
    if changes:
        return changes
    for value in list(arguments.values())[:50]:
        if isinstance(value, str) and 0 < len(value) <= 200:
            found = first_line(value)
            if found:
                return found
    return None


def _tool_call(body: str) -> tuple[str | None, str | None]:
    """A tool call body's tool name and key argument (either may be ``None``)."""
    if len(body) <= PARSE_CHARS:
        try:
            data: Any = json.loads(body)
        except (ValueError, RecursionError):
            data = None
        if isinstance(data, dict):
            name = data.get("tool", data.get("name"))
            arguments = data.get("arguments", data.get("input"))
            return (first_line(name, 80) if isinstance(name, str) else None), key_argument(arguments)
    head = body[:8192]  # too long to parse, or not JSON: the name and key argument by pattern
    tool, argument = _TOOL.search(head), _ARGUMENT.search(head)
    return (
        first_line(_unescape(tool.group(1)), 80) if tool else None,
        first_line(_unescape(argument.group(2))) if argument else None,
    )


def _unescape(fragment: str) -> str:
    try:
        value = json.loads(f'"{fragment}"')
    except ValueError:
        return fragment
    return value if isinstance(value, str) else fragment


def tool_name(body: str) -> str | None:
    """The tool a tool call's body names."""
    try:
        return _tool_call(body)[0]
    except Exception:  # a summary never breaks a commit or a page
        return None


def tool_result(tool: str | None, output: str, *, failed: bool) -> str:
    """``✓ Edit`` or ``✗ Edit: <error's first line>`` (without a known tool: ``✓`` / ``✗ <error>``)."""
    if not failed:
        return cut(f"✓ {tool}" if tool else "✓")
    error = first_line(output)
    head = f"✗ {tool}" if tool else "✗"
    return cut(f"{head}: {error}" if tool and error else f"{head} {error}" if error else head)


def describe(kind: str, body: str, *, failed: bool = False, tool: str | None = None) -> str | None:
    """A transcript line as one line of at most :data:`LIMIT` characters, or ``None`` when it says nothing
    (usage, system and blank lines, an unknown kind). ``failed`` and ``tool``: a tool result's outcome and its
    call's tool, when known. Never raises."""
    try:
        return _describe(str(kind), body if isinstance(body, str) else "", failed=failed, tool=tool)
    except Exception:  # a summary never breaks a commit or a page
        return None


def _describe(kind: str, body: str, *, failed: bool, tool: str | None) -> str | None:
    if kind in (TranscriptKind.TEXT, TranscriptKind.SCREEN):
        return first_line(body)
    if kind == TranscriptKind.TOOL_CALL:
        name, argument = _tool_call(body)
        if name is None:
            return first_line(body)
        return cut(f"{name} {argument}" if argument else name)
    if kind == TranscriptKind.TOOL_RESULT:
        return tool_result(first_line(tool, 80) if tool else None, body, failed=failed)
    if kind == TranscriptKind.ERROR:
        line = first_line(body)
        return cut(f"✗ {line}") if line else None
    if kind == TranscriptKind.USER:
        line = first_line(body)
        return cut(f"» {line}") if line else None
    if kind == TranscriptKind.QUESTION:
        line = first_line(body)
        return cut(f"? {line}") if line else None
    return None


def says_now(kind: str, *, failed: bool) -> bool:
    """Whether a line of ``kind`` may be what a session is doing now: not a usage or system line, nor a
    successful tool result (its call, ``Edit src/app.py``, says more)."""
    if kind == TranscriptKind.TOOL_RESULT:
        return failed
    return kind not in _SILENT


_SILENT = frozenset((TranscriptKind.USAGE, TranscriptKind.SYSTEM))


@attrs.frozen(kw_only=True)
class Now:
    """A session's latest output: what its newest meaningful line says (``None``: no line of the batch said
    anything; the one before stands) and when its newest line was written."""

    now: str | None
    last_output_at: float


def latest(entries: Sequence[TranscriptEntry]) -> dict[str, Now]:
    """For each session of a committed batch: its :class:`Now`. Looks at no more than :data:`SCAN_LINES` of
    each session's newest lines, so the cost follows the sessions in the batch, not its lines."""
    by_session: dict[str, list[TranscriptEntry]] = {}
    for entry in reversed(entries):
        newest = by_session.setdefault(entry.session_id, [])
        if len(newest) < SCAN_LINES:
            newest.append(entry)
    return {session_id: _now_of(newest) for session_id, newest in by_session.items()}


def _now_of(newest: list[TranscriptEntry]) -> Now:
    for index, entry in enumerate(newest):
        tool = entry.tool
        if entry.kind is TranscriptKind.TOOL_RESULT:
            if not entry.failed:
                continue  # a success says less than its call
            tool = tool or _call_before(newest, index)
        summary = describe(entry.kind, entry.body, failed=entry.failed, tool=tool)
        if summary is not None:
            return Now(now=summary, last_output_at=newest[0].ts)
    return Now(now=None, last_output_at=newest[0].ts)


def _call_before(newest: list[TranscriptEntry], index: int) -> str | None:
    """The tool of the call before the result at ``newest[index]`` (``newest`` runs newest first)."""
    for entry in newest[index + 1 :]:
        if entry.kind == TranscriptKind.TOOL_CALL:
            return tool_name(entry.body)
    return None


def summaries(entries: Iterable[TranscriptEntry]) -> list[str | None]:
    """Each line's :func:`describe`, in order; a tool result without a known tool is paired with the tool
    call before it in ``entries`` (results follow their calls in order)."""
    out: list[str | None] = []
    calls: list[str | None] = []
    for entry in entries:
        tool = entry.tool
        if entry.kind == TranscriptKind.TOOL_CALL:
            calls.append(tool_name(entry.body))
        elif entry.kind == TranscriptKind.TOOL_RESULT and tool is None and calls:
            tool = calls.pop(0)
        out.append(describe(entry.kind, entry.body, failed=entry.failed, tool=tool))
    return out
