"""JSON for the web surfaces: domain values (attrs) unstructured by cattrs, enums as their values."""

from __future__ import annotations

import enum
import json
from typing import Any

import cattrs

converter = cattrs.Converter()
converter.register_unstructure_hook(enum.Enum, lambda value: value.value)


def to_data(value: Any) -> Any:
    """A JSON-ready structure for any domain value (attrs classes, enums, tuples, dicts)."""
    return converter.unstructure(value)


def dumps(value: Any) -> str:
    return json.dumps(to_data(value), separators=(",", ":"), default=str)
