"""``orcha ls``, ``orcha logs``, ``orcha steer|cancel|resume`` and ``orcha attach``."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import sys
from collections.abc import Iterable, Mapping
from typing import Any

from rich.console import Console, Group
from rich.text import Text

from orcha.cli import _output as out
from orcha.cli._client import REFUSED, Client, ClientError
from orcha.cli._remote import find_session, read_text, remote, segment
from orcha.cli._sse import SseEvent, follow

ONE_LINERS = {"tool_call", "tool_result", "usage"}
"""Kinds printed as one line (the server's ``summary`` when it sends one); the others are printed whole."""
KIND_STYLES = {"error": "red", "tool_call": "cyan", "tool_result": "dim", "user": "bold", "question": "yellow"}
PAGE = 1000
SESSION_COLUMNS = ("ID", "ROLE", "AGENT", "STATUS", "TASK", "NOW", "OUT", "COST", "TARGET", "PR")


def pr_label(url: object) -> str:
    text = out.clean(url)
    head, _, number = text.rstrip("/").rpartition("/")
    return f"#{number}" if number.isdigit() and head.endswith(("/pull", "/pulls", "/merge_requests")) else text


def session_rows(
    sessions: Iterable[Mapping[str, Any]], targets: Mapping[str, str], *, now: float | None = None
) -> list[tuple[object, ...]]:
    """One row per session: id, role, agent, status, task, now, since its last output, cost, target, PR.

    ``task`` falls back to the prompt's first line (a server without the field); absent fields are empty."""
    rows: list[tuple[object, ...]] = []
    for s in sessions:
        task = s.get("task") or out.one_line(s.get("prompt") or "")
        usage = s.get("usage") or {}
        target = s.get("target_id")
        rows.append(
            (
                s["id"],
                s.get("role", ""),
                s.get("agent", ""),
                out.status_text(s.get("status", "")),
                out.one_line(task),
                out.one_line(s.get("now") or ""),
                out.ago(s.get("last_output_at"), now),
                out.cost(usage.get("cost_usd")),
                targets.get(target, target) if target else "",
                pr_label(s["pr_url"]) if s.get("pr_url") else "",
            )
        )
    return rows


def target_names(dashboard: Mapping[str, Any]) -> dict[str, str]:
    return {str(t["id"]): str(t["name"]) for t in dashboard.get("targets", [])}


def dashboard_view(dashboard: Mapping[str, Any], *, width: int, now: float | None = None) -> Any:
    """The dashboard as the terminal shows it: the sessions table, and a line of what needs the user."""
    titles = {str(o["id"]): str(o["title"]) for o in dashboard.get("objectives", [])}
    order = {ident: i for i, ident in enumerate(titles)}
    sessions = sorted(dashboard.get("sessions", []), key=lambda s: (order.get(s["objective_id"], len(order)),))
    parts: list[Any] = [
        out.table(
            SESSION_COLUMNS,
            session_rows(sessions, target_names(dashboard), now=now),
            wide=("TASK", "NOW"),
            width=width,
        )
    ]
    open_questions = len(dashboard.get("open_questions", []))
    live = sum(1 for o in dashboard.get("objectives", []) if o.get("status") == "active")
    parts.append(Text(f"{live} active objective(s), {len(sessions)} session(s), {open_questions} open question(s)"))
    return Group(*parts)


async def ls(client: Client, args: argparse.Namespace) -> int:
    if args.watch:
        from orcha.cli._watch import watch

        return await watch(client, args)
    dashboard = await client.get("/api/dashboard")
    if args.json:
        out.print_json(dashboard)
        return 0
    con = out.console()
    con.print(dashboard_view(dashboard, width=con.width))
    return 0


def render_line(line: Mapping[str, Any], con: Console) -> None:
    """One transcript line: its time, kind and text (tool calls and results as one line)."""
    kind = out.clean(line.get("kind", ""))
    prefix = f"{out.when(line.get('ts'))} {kind:<11} "
    if kind in ONE_LINERS:
        body = out.line_summary(line)
    else:
        lines = out.clean(line.get("body", "")).splitlines() or [""]
        body = ("\n" + " " * len(prefix)).join(lines)
    con.print(Text.assemble((prefix, "dim"), (body, KIND_STYLES.get(kind, ""))))


async def logs(client: Client, args: argparse.Namespace) -> int:
    session = await find_session(client, args.session)
    ident = str(session["id"])
    con = out.console()
    printed = 0

    def show(line: Mapping[str, Any]) -> None:
        nonlocal printed
        seq = int(line.get("seq", 0))
        if seq <= printed:
            return  # already shown (a resumed stream never repeats one; this makes sure)
        printed = seq
        if args.json:
            print(json.dumps(dict(line), ensure_ascii=False), flush=True)
        else:
            render_line(line, con)
            con.file.flush()

    if not args.follow:
        after = 0
        while True:
            page = await client.get(f"/api/sessions/{segment(ident)}/messages", after=after, limit=PAGE)
            for line in page.get("items", []):
                show(line)
            if len(page.get("items", [])) < PAGE or int(page["next_after"]) <= after:
                return 0
            after = int(page["next_after"])

    ended: dict[str, Any] = {}

    def handle(event: SseEvent) -> bool:
        if event.event == "line" and isinstance(event.data, dict):
            show(event.data)
        elif event.event == "end":
            ended.update(event.data if isinstance(event.data, dict) else {})
            return True
        return False

    await follow(client, f"/api/sessions/{segment(ident)}/stream", handle)
    print(f"orcha: {ident} ended ({ended.get('status', 'ended')})", file=sys.stderr)
    return 0


async def _act(client: Client, args: argparse.Namespace, action: str, body: dict[str, Any]) -> int:
    session = await find_session(client, args.session)
    moved = await client.post(f"/api/sessions/{segment(str(session['id']))}/{action}", body)
    if args.json:
        out.print_json(moved)
    else:
        reason = moved.get("status_reason") or moved.get("pause_reason")
        print(f"{moved['id']}: {moved['status']}" + (f" ({out.one_line(reason)})" if reason else ""))
    return 0


async def steer(client: Client, args: argparse.Namespace) -> int:
    return await _act(client, args, "steer", {"text": read_text(args.text, "the message")})


async def cancel(client: Client, args: argparse.Namespace) -> int:
    return await _act(client, args, "cancel", {"reason": args.reason} if args.reason else {})


async def resume(client: Client, args: argparse.Namespace) -> int:
    return await _act(client, args, "resume", {"text": args.text} if args.text else {})


def attach_argv(session: Mapping[str, Any]) -> list[str]:
    """The session's attach command as argv (it is run without a shell), or a clear error without one."""
    command = session.get("attach_command")
    if not command:
        raise ClientError(
            f"{session['id']} has no terminal to attach to: only sessions in tmux have one "
            "(`orcha serve --tmux`, or an agent that runs in tmux)",
            status=REFUSED,
        )
    try:
        argv = shlex.split(str(command))
    except ValueError as exc:
        raise ClientError(f"cannot read the attach command {command!r}: {exc}") from None
    if not argv:
        raise ClientError(f"{session['id']} has an empty attach command", status=REFUSED)
    return argv


def exec_argv(argv: list[str]) -> int:
    """Replace this process with ``argv`` (no shell); a clear error when its program is not installed."""
    if shutil.which(argv[0]) is None:
        raise ClientError(f"{argv[0]} is not installed here (needed to attach: {shlex.join(argv)})", status=REFUSED)
    sys.stdout.flush()
    os.execvp(argv[0], argv)
    return 0  # not reached: execvp returns only by raising


async def attach(client: Client, args: argparse.Namespace) -> int | list[str]:
    session = await find_session(client, args.session)
    argv = attach_argv(session)
    if args.json:
        out.print_json({"session_id": session["id"], "attach_command": session["attach_command"], "argv": argv})
        return 0
    return argv


def add_parsers(commands: Any, flags: argparse.ArgumentParser) -> None:
    listing = commands.add_parser("ls", parents=[flags], help="the dashboard: every live and recent session")
    listing.add_argument("--watch", "-w", action="store_true", help="keep it on screen, live (Ctrl-C to stop)")
    listing.set_defaults(handler=remote(ls))
    log = commands.add_parser("logs", parents=[flags], help="a session's transcript")
    log.add_argument("session", metavar="SESSION", help="its id (or a unique start of a shown one's)")
    log.add_argument("-f", "--follow", action="store_true", help="keep printing new lines until it ends")
    log.set_defaults(handler=remote(logs))
    steering = commands.add_parser("steer", parents=[flags], help="send a session a message")
    steering.add_argument("session", metavar="SESSION")
    steering.add_argument("text", metavar="TEXT", help="the message (- reads it from stdin)")
    steering.set_defaults(handler=remote(steer))
    stop = commands.add_parser("cancel", parents=[flags], help="cancel a session (kills its processes)")
    stop.add_argument("session", metavar="SESSION")
    stop.add_argument("--reason")
    stop.set_defaults(handler=remote(cancel))
    again = commands.add_parser("resume", parents=[flags], help="resume a paused session")
    again.add_argument("session", metavar="SESSION")
    again.add_argument("text", metavar="TEXT", nargs="?", help="its next turn (optional)")
    again.set_defaults(handler=remote(resume))
    join = commands.add_parser("attach", parents=[flags], help="attach this terminal to a session's tmux pane")
    join.add_argument("session", metavar="SESSION")
    join.set_defaults(handler=remote(attach))
