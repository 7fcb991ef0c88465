"""What the command line prints: dense tables with rich, colours only on a terminal, JSON for scripts.

Text from the server (titles, prompts, agent output) is shown as text, never as rich markup, and with its
control characters replaced, so nothing it holds can drive the terminal.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from orcha import oneline

ONE_LINE = 160
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
STATUS_STYLES = {
    "running": "green",
    "online": "green",
    "active": "green",
    "open": "green",
    "done": "cyan",
    "completed": "cyan",
    "merged": "cyan",
    "waiting_input": "yellow",
    "waiting_capacity": "yellow",
    "queued": "yellow",
    "starting": "yellow",
    "paused": "yellow",
    "draining": "yellow",
    "failed": "red",
    "offline": "red",
    "canceled": "magenta",
    "disabled": "magenta",
    "closed": "magenta",
}


def console(file: TextIO | None = None) -> Console:
    """A console on stdout: colours and bold only when it is a terminal (and ``$NO_COLOR`` is unset); when not,
    a wide line (``$COLUMNS``, else 200) so rows are not cut for a pager or a file."""
    out = file or sys.stdout
    terminal = out.isatty()
    plain = not terminal or bool(os.environ.get("NO_COLOR"))
    width = None if terminal else int(os.environ.get("COLUMNS", "0") or 0) or 200
    return Console(
        file=out,
        force_terminal=terminal,
        no_color=plain,
        color_system=None if plain else "auto",  # none: no styling at all (no bold either)
        width=width,
        highlight=False,
        emoji=False,
        markup=False,
        soft_wrap=not terminal,
    )


def clean(text: object) -> str:
    """``text`` with control characters (escape sequences, carriage returns) shown as ``�``."""
    return _CONTROL.sub("\N{REPLACEMENT CHARACTER}", "" if text is None else str(text))


def one_line(text: object, limit: int = ONE_LINE) -> str:
    """The first non-empty line of ``text``, at most ``limit`` characters (elided with …)."""
    first = next((line.strip() for line in clean(text).splitlines() if line.strip()), "")
    return first if len(first) <= limit else first[: limit - 1] + "…"


def ago(epoch: float | None, now: float | None = None) -> str:
    """How long ago, tersely: ``4s``, ``12m``, ``3h``, ``2d``; empty when unknown."""
    if epoch is None:
        return ""
    seconds = max(0, int((time.time() if now is None else now) - float(epoch)))
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m")):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def when(epoch: float | None) -> str:
    """A local time of day (today) or date and time."""
    if epoch is None:
        return ""
    stamp = time.localtime(float(epoch))
    today = time.localtime()
    return time.strftime("%H:%M:%S" if stamp[:3] == today[:3] else "%Y-%m-%d %H:%M", stamp)


def cost(value: float | None) -> str:
    return f"${float(value):.2f}" if value else ""


def status_text(status: object) -> Text:
    word = clean(status)
    return Text(word, style=STATUS_STYLES.get(word, ""))


def table(
    columns: Sequence[str],
    rows: Iterable[Sequence[object]],
    *,
    wide: Iterable[str] = (),
    wrap: Iterable[str] = (),
    optional: Sequence[str] = (),
    width: int = 200,
) -> Table:
    """A dense table (no borders) at most ``width`` cells wide. The other columns (ids, statuses, costs) are
    never cut; the ``wide`` ones share what room is left, elided (…) when it is short, or, the ``wrap`` ones,
    wrapped onto more lines. When that room is too small, the ``optional`` columns are left out, in order."""
    cells = [[cell if isinstance(cell, Text) else Text(clean(cell)) for cell in row] for row in rows]
    natural = {name: max([len(name), *(row[i].cell_len for row in cells)]) for i, name in enumerate(columns)}
    stretch = [name for name in columns if name in set(wide) | set(wrap)]
    shown = list(columns)
    for name in [*optional, None]:
        room = width - sum(natural[c] for c in shown if c not in stretch) - 2 * (len(shown) - 1)
        if name is None or room >= sum(min(natural[c], WIDE_ENOUGH) for c in stretch):
            break
        if name in shown:
            shown.remove(name)
    widths = {c: natural[c] for c in shown}
    for left, name in enumerate(sorted(stretch, key=lambda c: natural[c])):
        widths[name] = min(natural[name], max(room // (len(stretch) - left), WIDE_MIN))
        room -= widths[name]
    grid = Table(box=None, pad_edge=False, show_edge=False, header_style="bold", padding=(0, 1))
    for name in shown:
        folds = name in set(wrap)
        grid.add_column(
            name,
            no_wrap=not folds,
            overflow="fold" if folds else "ellipsis",
            width=widths[name],
            min_width=None if name in stretch else widths[name],
        )
    index = [columns.index(name) for name in shown]
    for row in cells:
        grid.add_row(*(row[i] for i in index))
    return grid


WIDE_MIN = 8
"""The narrowest a ``wide`` column gets (the line is longer than asked for then)."""
WIDE_ENOUGH = 16
"""How wide each ``wide`` column should get before an ``optional`` one is left out for it."""


def print_table(
    columns: Sequence[str],
    rows: Iterable[Sequence[object]],
    *,
    wide: Iterable[str] = (),
    wrap: Iterable[str] = (),
    optional: Sequence[str] = (),
) -> None:
    """:func:`table` on a new :func:`console`, as wide as it is."""
    con = console()
    con.print(table(columns, rows, wide=wide, wrap=wrap, optional=optional, width=con.width))


def print_json(data: Any, file: TextIO | None = None) -> None:
    """``data`` as indented JSON (stable keys order as the server sent them)."""
    print(json.dumps(data, indent=2, ensure_ascii=False), file=file or sys.stdout)


def short(ident: object) -> str:
    """An id as shown in tables: whole (ids are short, and a prefix of one is accepted anyway)."""
    return clean(ident)


def line_summary(line: Mapping[str, Any]) -> str:
    """A transcript line as one line: the server's ``summary`` when it sent one (its messages do), else the
    same one-liner made here for a tool call (``Edit src/app.py``), else the body's first line (a tool result
    on the SSE stream, whose outcome the line does not say)."""
    summary = line.get("summary")
    if isinstance(summary, str) and summary.strip():
        return one_line(summary)
    body = str(line.get("body", ""))
    made = oneline.describe("tool_call", body) if line.get("kind") == "tool_call" else None
    return one_line(made) if made else one_line(body)
