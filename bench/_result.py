"""A figure's result, the table of all of them, and the machine they ran on."""

from __future__ import annotations

import math
import os
import platform
import time
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

MEASURED = "measured"
NOT_BUILT = "not built"
ERROR = "error"


@attrs.frozen(kw_only=True)
class Result:
    """One figure: orcha's number, the baseline measured in the same run, their ratio, and the verdict.

    ``orcha_text`` / ``baseline_text`` override how the two numbers show in the table (a figure with two
    criteria shows both); ``metrics`` holds the other numbers worth keeping (percentiles, sizes, counts)."""

    figure: str
    title: str
    orcha: float | None
    baseline: float | None
    ratio: float | None
    unit: str
    target: str
    passed: bool | None
    notes: str = ""
    status: str = MEASURED
    orcha_text: str = ""
    baseline_text: str = ""
    metrics: Mapping[str, float | int | str] = attrs.field(factory=dict)
    seconds: float = 0.0
    """How long the figure took to measure (wall clock)."""

    @property
    def verdict(self) -> str:
        if self.status == NOT_BUILT:
            return "not built"
        if self.status == ERROR:
            return "ERROR"
        return "pass" if self.passed else "FAIL"

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Result:
        names = {field.name for field in attrs.fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in names})

    def to_json(self) -> dict[str, Any]:
        data = attrs.asdict(self)
        data["metrics"] = dict(self.metrics)
        data["verdict"] = self.verdict
        for key in ("orcha", "baseline", "ratio"):
            if isinstance(data[key], float) and not math.isfinite(data[key]):
                data[key] = None
        return data


def number(value: float | None, unit: str = "") -> str:
    """A number as the table shows it: three significant figures, thousands separated."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    magnitude = abs(value)
    if magnitude >= 1000:
        text = f"{value:,.0f}"
    elif magnitude >= 100:
        text = f"{value:.0f}"
    elif magnitude >= 10:
        text = f"{value:.1f}"
    elif magnitude >= 1:
        text = f"{value:.2f}"
    else:
        text = f"{value:.3f}"
    return f"{text} {unit}".strip()


COLUMNS = ("figure", "orcha", "baseline", "ratio", "target", "verdict")


def rows(results: Sequence[Result]) -> list[tuple[str, ...]]:
    return [
        (
            f"{r.figure} {r.title}",
            r.orcha_text or number(r.orcha, r.unit),
            r.baseline_text or number(r.baseline, r.unit),
            number(r.ratio),
            r.target,
            r.verdict,
        )
        for r in results
    ]


def table(results: Sequence[Result], *, markdown: bool = False) -> str:
    """One aligned table (plain text, or a Markdown table)."""
    body = rows(results)
    widths = [max(len(c), *(len(row[i]) for row in body)) for i, c in enumerate(COLUMNS)]
    if markdown:
        lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "|".join("---" for _ in COLUMNS) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in body]
        return "\n".join(lines)

    def line(cells: Sequence[str]) -> str:
        return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip()

    lines = [line(COLUMNS), line(["-" * w for w in widths])]
    lines += [line(row) for row in body]
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    """Where the figures ran: cores, RAM, CPU model, Python, SQLite and apsw versions."""
    import apsw

    model = ""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    ram = 0
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    ram = int(line.split()[1]) * 1024
                    break
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "ram_bytes": ram,
        "cpu_model": model,
        "python": platform.python_version(),
        "sqlite": apsw.sqlite_lib_version(),
        "apsw": apsw.apsw_version(),
        "platform": platform.platform(),
    }


REFERENCE_LOOP = 2_000_000
"""Additions in :func:`reference_loop_seconds`'s loop."""


def reference_loop_seconds() -> float:
    """The machine's speed for CPython at this moment: the best of three runs of a fixed pure-Python loop
    (lower is faster). The absolute figures (latencies, cores, seconds) scale with it; the ratios less so.
    Measured before and after a run, since a VM's speed drifts."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        total = 0
        for n in range(REFERENCE_LOOP):
            total += n
        best = min(best, time.perf_counter() - started)
    return best
