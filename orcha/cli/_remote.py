"""What the subcommands that talk to a running server share: their flags, the run, and finding ids by prefix."""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Awaitable, Callable, Iterator
from typing import Any
from urllib.parse import quote

import trio

from orcha.cli._client import REFUSED, Client, ClientError, find_server, open_client

PAGE = 1000
"""The most one page of a list endpoint holds (``limit`` of ``/api/questions``): the newest that many."""

Command = Callable[[Client, argparse.Namespace], Awaitable[int | list[str]]]
"""A subcommand: its exit status, or a command line to replace this process with once the server is left."""


def connection_flags(*, before: bool = False) -> argparse.ArgumentParser:
    """``--server``, ``--token`` and ``--json``, for every subcommand that talks to a server (``before``: the
    same flags for the top-level parser, kept apart as ``early_*``, since a subcommand's defaults would
    overwrite them)."""
    flags = argparse.ArgumentParser(add_help=False)
    prefix = "early_" if before else ""
    flags.add_argument(
        "--server",
        metavar="URL",
        dest=f"{prefix}server",
        help="the server's address (default: $ORCHA_URL, else http://127.0.0.1:8080)",
    )
    flags.add_argument(
        "--token",
        dest=f"{prefix}token",
        metavar="TOKEN",
        help="the API token (default: $ORCHA_TOKEN, else, for a server on this machine, its token file; "
        "prefer the variable: a flag shows in ps)",
    )
    flags.add_argument(
        "--json",
        action="store_true",
        dest=f"{prefix}json",
        default=None if before else False,
        help="print the server's JSON (for scripts)",
    )
    return flags


def remote(command: Command) -> Callable[[argparse.Namespace], int]:
    """An argparse handler that runs ``command`` under trio with a client of the chosen server."""

    def handler(args: argparse.Namespace) -> int:
        server = find_server(args.server, args.token)

        async def run() -> int | list[str]:
            async with open_client(server) as client:
                return await command(client, args)

        try:
            done = trio.run(run)
        except BaseExceptionGroup as group:  # a nursery's: the first clear error is what the user hears
            leaves = list(_leaves(group))
            wanted = ClientError | KeyboardInterrupt | BrokenPipeError
            first = next((e for e in leaves if isinstance(e, wanted)), None)
            if first is None:
                raise
            raise first from None
        if isinstance(done, list):
            from orcha.cli._sessions import exec_argv

            return exec_argv(done)
        return done

    return functools.update_wrapper(handler, command)


def read_text(value: str, what: str) -> str:
    """``value``, or standard input when it is ``-``."""
    text = sys.stdin.read() if value == "-" else value
    if not text.strip():
        raise ClientError(f"{what} is empty", status=REFUSED)
    return text


def _leaves(group: BaseExceptionGroup[BaseException]) -> Iterator[BaseException]:
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            yield from _leaves(exc)
        else:
            yield exc


def segment(ident: str) -> str:
    """An id as one path segment (whatever the user typed)."""
    return quote(ident, safe="")


def pick(kind: str, typed: str, candidates: list[str]) -> str | None:
    """The one candidate ``typed`` is a prefix of; ``None`` when none is; a clear error when several are."""
    matches = sorted({c for c in candidates if c.startswith(typed)})
    if len(matches) > 1:
        shown = ", ".join(matches[:5]) + (" …" if len(matches) > 5 else "")
        raise ClientError(f"{typed!r} is the start of several {kind}s: {shown}", status=REFUSED)
    return matches[0] if matches else None


async def find_session(client: Client, typed: str) -> dict[str, Any]:
    """The session ``typed`` names: its id, or a unique prefix of a session on the dashboard."""
    try:
        return dict(await client.get(f"/api/sessions/{segment(typed)}"))
    except ClientError as exc:
        if exc.http_status != 404:
            raise
        dashboard = await client.get("/api/dashboard")
        found = pick("session", typed, [str(s["id"]) for s in dashboard.get("sessions", [])])
        if found is None:
            raise
        return dict(await client.get(f"/api/sessions/{segment(found)}"))


async def find_objective(client: Client, typed: str) -> str:
    try:
        await client.get(f"/api/objectives/{segment(typed)}")
        return typed
    except ClientError as exc:
        if exc.http_status != 404:
            raise
        listed = await client.get("/api/objectives", limit=1000)
        found = pick("objective", typed, [str(o["id"]) for o in listed.get("items", [])])
        if found is None:
            raise
        return found


async def find_question(client: Client, typed: str) -> str:
    """A question's id, or a unique prefix of an open one's, else of any question's (the server then says why
    one answered or dismissed cannot be answered; 404 for an unknown id)."""
    open_ids = [str(q["id"]) for q in (await client.get("/api/questions", status="open", limit=PAGE))["items"]]
    if typed in open_ids:
        return typed
    found = pick("open question", typed, open_ids)
    if found is not None:
        return found
    ids = [str(q["id"]) for q in (await client.get("/api/questions", limit=PAGE))["items"]]  # the newest: history
    return typed if typed in ids else pick("question", typed, ids) or typed


async def find_target(client: Client, typed: str) -> dict[str, Any]:
    """A target by id or name (or a unique prefix of either)."""
    items: list[dict[str, Any]] = list((await client.get("/api/targets")).get("items", []))
    for target in items:
        if typed in (target["id"], target["name"]):
            return target
    found = pick("target", typed, [str(t["id"]) for t in items] + [str(t["name"]) for t in items])
    for target in items:
        if found in (target["id"], target["name"]):
            return target
    names = ", ".join(str(t["name"]) for t in items) or "none"
    raise ClientError(f"no target {typed!r} (targets: {names})", status=REFUSED, http_status=404)
