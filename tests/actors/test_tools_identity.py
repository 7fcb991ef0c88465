"""A session's tools know its role and objective from its actor: a call does not read the session for them."""

from __future__ import annotations

from typing import Any

from orcha.actors.tools import SessionTools
from orcha.io.gateway import StoreGateway
from orcha.model import SessionRole
from tests.conftest import make_worker


class CountingDb:
    def __init__(self, store) -> None:
        self._gateway = StoreGateway(store, inline=True)
        self.calls = 0

    async def run(self, fn: Any, *, long: bool = False) -> Any:
        self.calls += 1
        return await self._gateway.run(fn, long=long)


def _tools(db, session_id: str, identity=None) -> SessionTools:
    return SessionTools(None, db, None, None, session_id, identity=identity)  # type: ignore[arg-type]


async def test_a_known_identity_is_not_read_and_still_decides_what_the_session_may_call(store):
    objective, _ = store.create_objective(title="t", prompt="p", agent="fake")
    worker = make_worker(store, objective.id)
    db = CountingDb(store)
    known = _tools(db, worker.id, identity=(SessionRole.WORKER, objective.id))
    refused = await known.call("spawn_session", {"prompt": "more"})
    assert refused.is_error and "manager" in refused.text and db.calls == 0
    noted = await known.call("create_note", {"text": "found it"})
    assert not noted.is_error and db.calls == 1  # the note's write alone
    assert [n.text for n in store.list_notes(objective.id)] == ["found it"]

    unknown = _tools(db, worker.id)  # e.g. a session without an actor here: read once, then known
    assert (await unknown.call("spawn_session", {"prompt": "more"})).is_error
    assert (await unknown.call("spawn_session", {"prompt": "more"})).is_error
    assert db.calls == 2
