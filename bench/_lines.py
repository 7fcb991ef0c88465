"""The printed lines' bodies: what a stand-in agent prints and what a reader takes apart (no orcha import: the
readers run in the benchmark's own process)."""

from __future__ import annotations


def line_body(stamp: float, tag: str, index: int, size: int) -> str:
    """``stamp|tag|index|`` padded to ``size`` characters: what the reader takes apart (:func:`parse_body`)."""
    head = f"{stamp:.6f}|{tag}|{index}|"
    return head + "x" * max(0, size - len(head))


def parse_body(body: str) -> tuple[float, str, int]:
    stamp, tag, index, _ = body.split("|", 3)
    return float(stamp), tag, int(index)
