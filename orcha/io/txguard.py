"""No external call inside a database transaction.

The store marks the current thread while one of its transactions is open. A process-wide audit hook
(:func:`sys.addaudithook`) watches the events Python raises before it starts a process or opens a network
connection, and raises :class:`ExternalCallInTransactionError` if the current thread has a transaction open.
Under trio every store call runs to completion inside one synchronous function, so a transaction never spans
an ``await``; this guard catches the other way to break the rule: an external call made from inside a store
method.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Iterator
from typing import Any

from orcha.errors import ExternalCallInTransactionError

_EXTERNAL_EVENTS = frozenset(
    {
        "subprocess.Popen",
        "os.system",
        "os.exec",
        "os.posix_spawn",
        "os.spawn",
        "os.fork",
        "pty.spawn",
        "socket.connect",
        "socket.getaddrinfo",
        "urllib.Request",
    }
)

_state = threading.local()
_install_lock = threading.Lock()
_installed = False


def in_transaction() -> bool:
    """Whether the current thread has a store transaction open."""
    return getattr(_state, "depth", 0) > 0


@contextlib.contextmanager
def transaction_open() -> Iterator[None]:
    """Mark the current thread as inside a transaction for the duration of the block."""
    _state.depth = getattr(_state, "depth", 0) + 1
    try:
        yield
    finally:
        _state.depth -= 1


def ensure_no_transaction(what: str) -> None:
    """Raise :class:`ExternalCallInTransactionError` if a transaction is open in this thread."""
    if in_transaction():
        raise ExternalCallInTransactionError(f"{what} attempted while a database transaction is open")


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event in _EXTERNAL_EVENTS and getattr(_state, "depth", 0) > 0:
        raise ExternalCallInTransactionError(f"{event} attempted while a database transaction is open")


def install() -> None:
    """Install the audit hook once per process (idempotent; hooks cannot be removed)."""
    global _installed
    with _install_lock:
        if not _installed:
            sys.addaudithook(_audit)
            _installed = True
