"""The apsw store: the only way to orcha's SQLite database.

:class:`Store` is synchronous: every public method is one short transaction on its own connection. A ``Store``
is used by one thread at a time (apsw connections are not used concurrently here): async callers reach it
through :class:`~orcha.io.gateway.StoreGateway`, which runs one call at a time, on the trio thread or on its
worker thread. The web layer reads through stores opened with ``readonly=True``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from orcha.io.store._dashboard import DashboardMixin
from orcha.io.store._db import Database
from orcha.io.store._effects import EffectsMixin
from orcha.io.store._fake_agents import FakeAgentsMixin
from orcha.io.store._fake_forge import FakeForgeMixin
from orcha.io.store._notices import Notice, NoticesMixin
from orcha.io.store._processes import ProcessesMixin
from orcha.io.store._providers import ProvidersMixin
from orcha.io.store._records import RecordsMixin
from orcha.io.store._schema import SCHEMA_VERSION
from orcha.io.store._sessions import SessionsMixin, recount_live_sessions
from orcha.io.store._targets import SlotClaim, TargetsMixin
from orcha.io.store._timeline import TimelineMixin
from orcha.io.store._transcripts import MAX_PAGE, TranscriptsMixin
from orcha.redact import DEFAULT_REDACTOR, Redactor

__all__ = ["MAX_PAGE", "SCHEMA_VERSION", "Notice", "SlotClaim", "Store"]


class Store(
    SessionsMixin,
    TargetsMixin,
    TranscriptsMixin,
    RecordsMixin,
    ProvidersMixin,
    ProcessesMixin,
    NoticesMixin,
    DashboardMixin,
    TimelineMixin,
    FakeForgeMixin,
    FakeAgentsMixin,
    EffectsMixin,
):
    """orcha's state in SQLite (WAL): current-state tables, an append-only audit log, transcripts.

    Opening a writable store creates the file and runs pending migrations. Every method validates its
    input, runs in one transaction, and raises an :class:`~orcha.errors.OrchaError` on refusal.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        clock: Callable[[], float] = time.time,
        readonly: bool = False,
        redactor: Redactor = DEFAULT_REDACTOR,
        busy_timeout_ms: int = 10_000,
    ) -> None:
        self._db = Database(path, clock=clock, readonly=readonly, busy_timeout_ms=busy_timeout_ms)
        if not readonly:
            with self._db.write() as tx:
                recount_live_sessions(tx)
        self._redactor = redactor
        self._tails: dict[str, tuple[int, int]] = {}
        self._tails_version: tuple[int, int] | None = None

    @property
    def path(self) -> str:
        return self._db.path

    @property
    def schema_version(self) -> int:
        return self._db.schema_version

    @property
    def database(self) -> Database:
        """The connection's transactions, for the gateway: ``database.group()`` runs the store calls made
        inside it in one transaction (one commit for all). Not part of the store's port."""
        return self._db

    @property
    def connection(self) -> object:
        """The underlying apsw connection, for tracing in tests and diagnostics only."""
        return self._db.conn

    def close(self) -> None:
        self._db.close()

    def backup(self, path: str) -> None:
        """Copy the live database, consistently, to a new private file at ``path``."""
        self._db.backup_to(path)

    def integrity_check(self) -> str:
        """``ok``, or what SQLite's integrity check found."""
        return self._db.integrity()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
