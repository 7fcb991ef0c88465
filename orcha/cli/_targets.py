"""``orcha targets ls|add|doctor|drain|disable|enable``.

``doctor`` shows each check as it finishes: it follows the event stream (``/api/events/stream``, from now)
while its request runs, and prints the ``target_doctor_check`` events of that target as they come; the
request's answer then fills in anything the stream had not brought yet.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

import trio
from rich.console import Console
from rich.text import Text

from orcha.cli import _output as out
from orcha.cli._client import Client
from orcha.cli._remote import find_target, remote, segment
from orcha.cli._sse import SseEvent, read_events

DOCTOR_SECONDS = 900.0
"""How long a doctor's request may take (a bootstrap may run 600 s)."""


def check_line(check: Mapping[str, Any]) -> Text:
    """``✓ git  /usr/bin/git``: passed, failed (``✗``) or failed but only informational (``·``)."""
    if check.get("ok"):
        mark, style = "✓", "green"
    elif check.get("required", True):
        mark, style = "✗", "red"
    else:
        mark, style = "·", "yellow"
    detail = out.one_line(check.get("detail") or "", 200)
    return Text.assemble((mark, style), " ", (f"{out.clean(check.get('name', '')):<12}", "bold"), " ", detail)


def unshown(checks: list[Mapping[str, Any]], shown: list[str]) -> list[Mapping[str, Any]]:
    """The checks of a report not yet printed: those after the longest start of it that ends what was shown
    (names in order; another caller's doctor run may have been shown before this one's)."""
    names = [str(c.get("name")) for c in checks]
    done = next((k for k in range(min(len(names), len(shown)), 0, -1) if shown[-k:] == names[:k]), 0)
    return checks[done:]


def report_lines(reply: Mapping[str, Any], con: Console, *, shown: list[str] | None = None) -> int:
    """Print the doctor's checks not ``shown`` yet and the target's status; exit status 0, or 1 if it failed."""
    target, report = reply["target"], reply.get("doctor")
    if report is not None:
        for check in unshown(list(report.get("checks", [])), shown or []):
            con.print(check_line(check))
    reason = target.get("status_reason")
    con.print(
        Text.assemble(
            (out.clean(target["name"]), "bold"),
            ": ",
            out.status_text(target["status"]),
            f" ({out.one_line(reason)})" if reason else "",
        )
    )
    return 0 if report is None or report.get("ok") else 1


async def targets_ls(client: Client, args: argparse.Namespace) -> int:
    items: list[dict[str, Any]] = (await client.get("/api/targets")).get("items", [])
    if args.json:
        out.print_json(items)
        return 0
    rows = [
        (
            t["id"],
            t["name"],
            t["kind"],
            "@".join(p for p in (t.get("user"), t.get("host")) if p) or "",
            out.status_text(t["status"]),
            f"{t.get('load', 0)}/{t['capacity_sessions']}",
            ",".join(t.get("metadata", {}).get("labels") or []),
            out.one_line(t.get("status_reason") or ""),
        )
        for t in items
    ]
    columns = ("ID", "NAME", "KIND", "HOST", "STATUS", "LOAD", "LABELS", "WHY")
    out.print_table(columns, rows, wide=("WHY",))
    return 0


async def targets_add(client: Client, args: argparse.Namespace) -> int:
    body: dict[str, Any] = {
        "name": args.name,
        "kind": args.kind,
        "host": args.host,
        "user": args.user,
        "port": args.port,
        "work_root": args.work_root,
        "capacity_sessions": args.capacity,
        "identity_file": args.identity_file,
        "known_hosts": args.known_hosts,
        "trust_on_first_use": True if args.trust_on_first_use else None,
        "bootstrap": args.bootstrap,
        "labels": args.label or None,
    }
    reply = await client.post("/api/targets", {k: v for k, v in body.items() if v is not None}, wait=DOCTOR_SECONDS)
    if args.json:
        out.print_json(reply)
        return 0
    return report_lines(reply, out.console())


async def targets_doctor(client: Client, args: argparse.Namespace) -> int:
    target = await find_target(client, args.target)
    ident = str(target["id"])
    con = out.console()
    shown: list[str] = []
    reply: dict[str, Any] = {}

    def progress(event: SseEvent) -> bool:
        data = event.data if isinstance(event.data, dict) else {}
        if event.event == "target_doctor_check" and data.get("target_id") == ident and not args.json:
            check = data.get("data") or {}
            con.print(check_line(check))
            con.file.flush()
            shown.append(str(check.get("name")))
        return False

    async with trio.open_nursery() as nursery:
        listening = trio.Event()

        async def listen() -> None:
            async with client.stream("/api/events/stream", headers={"Accept": "text/event-stream"}) as response:
                await read_events(response, progress, on_open=listening.set)  # its first line: subscribed

        async def ask() -> None:
            with trio.move_on_after(10):  # a stream that never opens must not hold the doctor back
                await listening.wait()
            reply.update(await client.post(f"/api/targets/{segment(ident)}/doctor", wait=DOCTOR_SECONDS))
            nursery.cancel_scope.cancel()

        nursery.start_soon(listen)
        nursery.start_soon(ask)
    if args.json:
        out.print_json(reply)
        return 0 if (reply.get("doctor") or {}).get("ok", True) else 1
    return report_lines(reply, con, shown=shown)


async def _action(client: Client, args: argparse.Namespace, action: str) -> int:
    target = await find_target(client, args.target)
    reply = await client.post(f"/api/targets/{segment(str(target['id']))}/{action}", wait=DOCTOR_SECONDS)
    if args.json:
        out.print_json(reply)
        return 0
    return report_lines(reply, out.console())


async def targets_drain(client: Client, args: argparse.Namespace) -> int:
    return await _action(client, args, "drain")


async def targets_disable(client: Client, args: argparse.Namespace) -> int:
    return await _action(client, args, "disable")


async def targets_enable(client: Client, args: argparse.Namespace) -> int:
    return await _action(client, args, "enable")


def add_parsers(commands: Any, flags: argparse.ArgumentParser) -> None:
    targets = commands.add_parser("targets", help="the machines sessions run on")
    sub = targets.add_subparsers(dest="targets_command", required=True, metavar="COMMAND")
    sub.add_parser("ls", parents=[flags], help="every target, its status and load").set_defaults(
        handler=remote(targets_ls)
    )
    add = sub.add_parser("add", parents=[flags], help="register a machine (its doctor runs at once)")
    add.add_argument("name")
    add.add_argument("--kind", choices=("ssh", "local"), default="ssh", help="default %(default)s")
    add.add_argument("--host", help="the machine's address (ssh)")
    add.add_argument("--user", help="the login (default: your user name)")
    add.add_argument("--port", type=int, help="the SSH port (default 22)")
    add.add_argument("--work-root", required=True, metavar="PATH", help="an absolute folder there (created 0700)")
    add.add_argument("--capacity", type=int, metavar="N", help="how many sessions at once (default 2)")
    add.add_argument("--identity-file", metavar="PATH", help="the private key to log in with")
    add.add_argument("--known-hosts", metavar="PATH", help="default ~/.ssh/known_hosts")
    add.add_argument("--trust-on-first-use", action="store_true", help="record the host key seen first")
    add.add_argument("--bootstrap", metavar="COMMAND", help="a shell command run there before the first doctor")
    add.add_argument("--label", action="append", metavar="LABEL", help="a kind of machine this is (repeatable)")
    add.set_defaults(handler=remote(targets_add))
    for name, handler, text in (
        ("doctor", targets_doctor, "run a target's checks, each shown as it finishes"),
        ("drain", targets_drain, "take no new sessions (live ones finish)"),
        ("disable", targets_disable, "take no sessions"),
        ("enable", targets_enable, "take sessions again (after a passing doctor)"),
    ):
        command = sub.add_parser(name, parents=[flags], help=text)
        command.add_argument("target", metavar="TARGET", help="its name or id")
        command.set_defaults(handler=remote(handler))
