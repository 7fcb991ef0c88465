"""The exception tree of orcha.

Every error orcha raises on purpose derives from :class:`OrchaError`, so callers at the edges (HTTP, MCP,
CLI) can turn it into a clear message. Errors of lower layers (apsw, subprocess, asyncssh) are translated
into these at the boundary where they are caught.

    OrchaError
    ├── InvalidInputError          bad input from a user or an agent (HTTP 400, MCP tool error)
    ├── NotFoundError              an id that names nothing (HTTP 404)
    ├── ConflictError              a legal request the current state forbids (HTTP 409)
    │   ├── InvalidTransitionError     a state machine refuses a transition
    │   ├── LockHeldError              a row lock is held by someone else
    │   ├── LockNotHeldError           releasing a lock one does not hold
    │   └── PushRefusedError           push safety refuses a push
    ├── StoreError                 the database failed (not the caller's fault)
    └── ExternalCallInTransactionError  an external call was attempted inside a DB transaction
"""

from __future__ import annotations


class OrchaError(Exception):
    """Base class of every error orcha raises on purpose."""

    code: str = "orcha_error"


class InvalidInputError(OrchaError):
    """Input that can never be valid; ``field`` names the offending field when there is one."""

    code = "invalid_input"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class NotFoundError(OrchaError):
    """An id that names no row."""

    code = "not_found"

    def __init__(self, kind: str, ident: str) -> None:
        super().__init__(f"no {kind} with id {ident!r}")
        self.kind = kind
        self.ident = ident


class ConflictError(OrchaError):
    """A well-formed request that the current state does not allow."""

    code = "conflict"


class ObjectiveEndedError(ConflictError):
    """A session's move was asked only while its objective is active, and the objective has ended."""

    def __init__(self, objective_id: str, status: str) -> None:
        super().__init__(f"objective {objective_id} is {status}")
        self.objective_id = objective_id
        self.status = status


class InvalidTransitionError(ConflictError):
    """A state machine refused to move ``machine`` from ``current`` to ``requested``."""

    code = "invalid_transition"

    def __init__(self, machine: str, current: str, requested: str, *, allowed: frozenset[str]) -> None:
        allowed_text = ", ".join(sorted(allowed)) if allowed else "none: it is terminal"
        super().__init__(
            f"{machine} cannot go from {current!r} to {requested!r} (allowed from {current!r}: {allowed_text})"
        )
        self.machine = machine
        self.current = current
        self.requested = requested
        self.allowed = allowed


class LockHeldError(ConflictError):
    """A row lock is already held by another owner."""

    code = "lock_held"

    def __init__(self, kind: str, key: str, holder: str) -> None:
        super().__init__(f"{kind} lock on {key!r} is held by {holder!r}")
        self.kind = kind
        self.key = key
        self.holder = holder


class LockNotHeldError(ConflictError):
    """Release of a lock by someone who does not hold it."""

    code = "lock_not_held"


class PushRefusedError(ConflictError):
    """Push safety refused a push to a pull request branch."""

    code = "push_refused"


class StoreError(OrchaError):
    """The database failed in a way that is not the caller's fault."""

    code = "store_error"


class ExternalCallInTransactionError(OrchaError):
    """An external call (process, network) was attempted while a database transaction was open."""

    code = "external_call_in_transaction"
