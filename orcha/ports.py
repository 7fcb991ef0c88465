"""The seams between the core and its edges, as Protocols (the edges implement them)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Concatenate, ParamSpec, Protocol, TypeAlias, TypeVar

from orcha.store_port import StorePort

R = TypeVar("R")
S = TypeVar("S")
S_co = TypeVar("S_co", covariant=True)
P = ParamSpec("P")


class StoreAccess(Protocol[S_co]):
    """Async access to a store of type ``S_co``: ``await db.run(lambda store: store.get_session(sid))``.

    Each call is one short transaction of the synchronous store, run to completion (never abandoned half-way)
    so no transaction spans an ``await``. A call that may take long (many rows) says so with ``long=True``: it
    is then kept off the event loop. The real one is ``orcha.io.gateway.StoreGateway``.
    """

    async def run(self, fn: Callable[[S_co], R], *, long: bool = False) -> R: ...


Db: TypeAlias = StoreAccess[StorePort]
"""What the actors and the web hold: access to the store through :class:`~orcha.store_port.StorePort`."""


def call(method: Callable[Concatenate[S, P], R], /, *args: P.args, **kwargs: P.kwargs) -> Callable[[S], R]:
    """A typed ``operator.methodcaller``: ``db.run(call(StorePort.get_session, sid))``, arguments checked.

    For loops, where a lambda would see the loop's variables late (ruff B023); it binds them now and calls the
    method of that name on the store it is given.
    """
    name = method.__name__
    return lambda store: getattr(store, name)(*args, **kwargs)
