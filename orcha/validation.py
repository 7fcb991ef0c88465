"""Validation of untrusted JSON input against small JSON-Schema objects: a pure decision, no I/O.

The MCP tools of a session and the HTTP API share it. It refuses what no column can hold or no caller should
send (NUL, lone surrogates, integers past 64 bits, non-finite numbers, deep nesting), unknown and blank
fields, and values past their declared type, length, bounds or enum, with an :class:`InvalidInputError`
that names the field. The length limits below are orcha's, used by every schema.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from orcha.errors import InvalidInputError

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
"""Every integer orcha accepts fits SQLite's 64-bit integers."""
ID_LENGTH = 100
NAME_LENGTH = 200
TEXT_LENGTH = 10_000
LONG_TEXT_LENGTH = 200_000
MAX_LIST = 100
PATH_LENGTH = 4096
BRANCH_LENGTH = 255

_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "boolean": (bool,),
    "array": (list, tuple),
    "object": (dict,),
    "null": (type(None),),
}


def printable(name: str, limit: int = 100) -> str:
    """``name`` fit to echo in an error: NUL and lone surrogates escaped, at most ``limit`` characters."""
    clean = name.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")
    return clean if len(clean) <= limit else clean[:limit] + "…"


def _named(field: str | None) -> str:
    return f"'{field}'" if field else "the input"


def check_text(value: str, field: str | None) -> None:
    """Refuse what no column can hold: NUL characters and lone surrogates (not encodable as UTF-8)."""
    if "\x00" in value:
        raise InvalidInputError(f"{_named(field)} must not contain NUL characters", field=field)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInputError(
            f"{_named(field)} must be valid Unicode text (it has a lone surrogate)", field=field
        ) from None


def check_json_value(value: Any, field: str | None, *, max_depth: int = 32) -> None:
    """Refuse hostile JSON anywhere in ``value``: NUL, lone surrogates, integers past 64 bits, NaN, deep nesting.

    ``field`` names the top-level field in the error. Iterative, so no input can exhaust the stack.
    """
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if depth > max_depth:
            raise InvalidInputError(f"{_named(field)} nests deeper than {max_depth} levels", field=field)
        if isinstance(item, str):
            check_text(item, field)
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int):
            if not INT64_MIN <= item <= INT64_MAX:
                raise InvalidInputError(f"{_named(field)} has an integer past 64 bits", field=field)
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise InvalidInputError(f"{_named(field)} has a number that is not finite", field=field)
        elif isinstance(item, Mapping):
            for key, nested in item.items():
                if not isinstance(key, str):
                    raise InvalidInputError(f"{_named(field)} has a key that is not a string", field=field)
                check_text(key, field or printable(key))
                pending.append((nested, depth + 1))
        elif isinstance(item, (list, tuple)):
            pending.extend((nested, depth + 1) for nested in item)
        else:
            raise InvalidInputError(f"{_named(field)} is not JSON", field=field)


def _type_name(types: str | list[str]) -> str:
    names = [types] if isinstance(types, str) else [t for t in types if t != "null"]
    return " or ".join(f"an {n}" if n[0] in "aeiou" else f"a {n}" for n in names)


def check_against(schema: Mapping[str, Any], value: Any, field: str, subject: str) -> None:
    """``value`` (not null) against a property schema: type, enum, length, bounds, list items."""
    declared = schema.get("type")
    if declared is not None:
        names = [declared] if isinstance(declared, str) else list(declared)
        ok = any(
            isinstance(value, _JSON_TYPES.get(name, (object,))) and not (name == "integer" and isinstance(value, bool))
            for name in names
        )
        if not ok:
            raise InvalidInputError(f"{subject}: {field!r} must be {_type_name(declared)}", field=field)
    if isinstance(value, str):
        check_text(value, field)
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            raise InvalidInputError(
                f"{subject}: {field!r} must be at most {schema['maxLength']} characters", field=field
            )
    if isinstance(value, int) and not isinstance(value, bool):
        low, high = schema.get("minimum", INT64_MIN), schema.get("maximum", INT64_MAX)
        if not low <= value <= high:
            raise InvalidInputError(f"{subject}: {field!r} must be between {low} and {high}", field=field)
    allowed = schema.get("enum")
    if allowed is not None and value not in allowed:
        raise InvalidInputError(f"{subject}: {field!r} must be one of {', '.join(map(str, allowed))}", field=field)
    if isinstance(value, (list, tuple)):
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            raise InvalidInputError(f"{subject}: {field!r} takes at most {schema['maxItems']} items", field=field)
        items = schema.get("items")
        for item in value:
            if items is not None and items.get("type") == "string" and not isinstance(item, str):
                raise InvalidInputError(f"{subject}: {field!r} must be a list of strings", field=field)
            if items is not None:
                check_against(items, item, field, subject)


def validate_object(schema: Mapping[str, Any], data: Any, *, subject: str, noun: str = "field") -> dict[str, Any]:
    """Check ``data`` against an object schema; raise :class:`InvalidInputError` naming the field.

    Unknown names are refused (``additionalProperties: false``), a required value may not be missing, null or
    blank, a null optional value counts as absent, and no value may carry NUL, lone surrogates or integers past
    64 bits.
    """
    if not isinstance(data, Mapping):
        raise InvalidInputError(f"{subject} takes a JSON object of {noun}s")
    properties: Mapping[str, Any] = schema["properties"]
    for name in data:
        if not isinstance(name, str) or name not in properties:
            shown = printable(str(name))
            known = ", ".join(properties) or "none"
            raise InvalidInputError(f"{subject} has no {noun} '{shown}' ({noun}s: {known})", field=shown)
    for name in schema.get("required", ()):
        value = data.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise InvalidInputError(f"{subject} needs {name!r} (not empty)", field=name)
    for name, value in data.items():
        check_json_value(value, name)
        if value is not None:
            check_against(properties[name], value, name, subject)
    return dict(data)
