"""What a new target may be called and where it may work: checked before anything is stored or created.

These values end up in paths and, for SSH targets, on ssh command lines, so they are refused early with a
clear :class:`~orcha.errors.InvalidInputError` naming the field: no NUL or other control characters, no
option-looking host or user, an absolute ``work_root`` without ``..`` of a sensible length.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from orcha.errors import InvalidInputError

MAX_NAME = 100
MAX_HOST = 253
MAX_USER = 64
MAX_WORK_ROOT = 1024
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_LABELS = 20
MAX_LABEL = 64
_LABEL = re.compile(r"[A-Za-z0-9_.][A-Za-z0-9_.-]{0,63}")


def check_work_root(work_root: Any, field: str = "work_root") -> str:
    """An absolute folder path without NUL, control characters or ``..`` components; not ``/`` itself."""
    if not isinstance(work_root, str) or not work_root:
        raise InvalidInputError("work_root must be an absolute folder path", field=field)
    if _CONTROL.search(work_root):
        raise InvalidInputError("work_root must not contain NUL, line breaks or other control characters", field=field)
    if len(work_root) > MAX_WORK_ROOT:
        raise InvalidInputError(f"work_root must be at most {MAX_WORK_ROOT} characters long", field=field)
    if not work_root.startswith("/"):
        raise InvalidInputError(f"work_root must be an absolute path (starting with /), not {work_root!r}", field=field)
    parts = work_root.split("/")
    if ".." in parts:
        raise InvalidInputError("work_root must not contain '..'", field=field)
    if not any(part not in ("", ".") for part in parts):
        raise InvalidInputError("work_root must not be the root folder itself", field=field)
    return work_root


def check_name(name: Any, field: str = "name") -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidInputError("name must not be empty", field=field)
    if _CONTROL.search(name):
        raise InvalidInputError("name must not contain NUL, line breaks or other control characters", field=field)
    if len(name) > MAX_NAME:
        raise InvalidInputError(f"name must be at most {MAX_NAME} characters long", field=field)
    return name


def check_ssh_word(value: Any, field: str, *, limit: int) -> str:
    """A host or user name that goes on an ssh command line: one word, not an option."""
    if not isinstance(value, str) or not value:
        raise InvalidInputError(f"{field} must not be empty", field=field)
    if _CONTROL.search(value) or any(c.isspace() for c in value):
        raise InvalidInputError(f"{field} must not contain spaces, NUL, line breaks or control characters", field=field)
    if value.startswith("-"):
        raise InvalidInputError(f"{field} must not start with '-'", field=field)
    if len(value) > limit:
        raise InvalidInputError(f"{field} must be at most {limit} characters long", field=field)
    return value


def check_new_target(
    *,
    name: Any,
    work_root: Any,
    host: Any = None,
    user: Any = None,
    port: Any = None,
    metadata: Mapping[str, Any] | None = None,
) -> None:
    """Refuse a target whose fields could never be used safely (raises :class:`InvalidInputError`)."""
    check_name(name)
    check_work_root(work_root)
    if host not in (None, ""):
        check_ssh_word(host, "host", limit=MAX_HOST)
    if user not in (None, ""):
        check_ssh_word(user, "user", limit=MAX_USER)
    if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535):
        raise InvalidInputError("port must be between 1 and 65535", field="port")
    for field in ("identity_file", "known_hosts"):
        value = (metadata or {}).get(field)
        if value not in (None, ""):
            check_file_path(value, field)
    labels = (metadata or {}).get("labels") or []
    if not isinstance(labels, list | tuple) or len(labels) > MAX_LABELS:
        raise InvalidInputError(f"labels must be a list of at most {MAX_LABELS} names", field="labels")
    for label in labels:
        check_label(label)


def check_label(label: Any) -> str:
    """A target label: a short word of letters, digits, ``.``, ``_`` and ``-``."""
    if not isinstance(label, str) or not _LABEL.fullmatch(label):
        raise InvalidInputError(
            f"a label is 1 to {MAX_LABEL} letters, digits, '.', '_' or '-' (not starting with '-'), not {label!r}",
            field="labels",
        )
    return label


def check_file_path(value: Any, field: str) -> str:
    """A path that goes into an ssh option: no control characters, not option-looking, not too long."""
    if not isinstance(value, str) or _CONTROL.search(value) or value.startswith("-") or len(value) > MAX_WORK_ROOT:
        raise InvalidInputError(
            f"{field} must be a path without control characters, not starting with '-'", field=field
        )
    return value
