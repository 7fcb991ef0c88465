"""JSON for the web surfaces: domain values (attrs) unstructured by cattrs, enums as their values; strict parsing."""

from __future__ import annotations

import enum
import json
import math
from typing import Any

import cattrs

from orcha.errors import InvalidInputError
from orcha.validation import check_json_value, check_text, printable

converter = cattrs.Converter()
converter.register_unstructure_hook(enum.Enum, lambda value: value.value)


def to_data(value: Any) -> Any:
    """A JSON-ready structure for any domain value (attrs classes, enums, tuples, dicts)."""
    return converter.unstructure(value)


def dumps(value: Any) -> str:
    return json.dumps(to_data(value), separators=(",", ":"), default=str)


MAX_DEPTH = 32


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} is out of range")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def loads_body(raw: bytes) -> Any:
    """Parse a request body strictly: UTF-8, plain JSON (no NaN/Infinity), then :func:`check_json_value`.

    Every refusal is an :class:`InvalidInputError` (a 400), whatever the bytes: not UTF-8, malformed, nested
    past the parser's recursion limit, numbers too long or too large, NUL characters or lone surrogates.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"the body is not UTF-8 (byte {exc.start})") from None
    try:
        value = json.loads(text, parse_float=_finite, parse_constant=_no_constant)
    except RecursionError:
        raise InvalidInputError(f"the body nests deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:  # JSONDecodeError, and int()'s limit on digits
        raise InvalidInputError(f"the body is not valid JSON: {str(exc)[:200]}") from None
    if isinstance(value, dict):  # name the top-level field that carries the hostile value
        for key, item in value.items():
            check_text(key, printable(key))
            check_json_value(item, printable(key), max_depth=MAX_DEPTH - 1)
    else:
        check_json_value(value, None, max_depth=MAX_DEPTH)
    return value
