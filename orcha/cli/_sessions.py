"""``orcha ls``, ``orcha logs``, ``orcha steer|cancel|resume`` and ``orcha attach``."""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shlex
import shutil
import sys
from collections.abc import Iterable, Mapping
from typing import Any

import attrs
import trio
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from orcha import oneline
from orcha.cli import _output as out
from orcha.cli._client import REFUSED, Client, ClientError
from orcha.cli._remote import find_session, read_text, remote, segment
from orcha.cli._sse import RECONNECT_SECONDS, SseEvent, follow

ONE_LINERS = {"tool_call", "tool_result", "usage"}
"""Kinds printed as one line (the server's ``summary`` when it sends one); the others are printed whole."""
KIND_STYLES = {"error": "red", "tool_call": "cyan", "tool_result": "dim", "user": "bold", "question": "yellow"}
PAGE = 1000
SESSION_COLUMNS = ("ID", "ROLE", "AGENT", "STATUS", "TASK", "NOW", "OUT", "COST", "TARGET", "PR")
OPTIONAL_COLUMNS = ("TARGET", "AGENT", "OUT")
"""Left out, in this order, when the terminal is too narrow for the task and what it does now."""


def pr_label(url: object) -> str:
    text = out.clean(url)
    head, _, number = text.rstrip("/").rpartition("/")
    return f"#{number}" if number.isdigit() and head.endswith(("/pull", "/pulls", "/merge_requests")) else text


def task_of(session: Mapping[str, Any]) -> str:
    """What a session was asked to do: its ``task``, else its prompt's first line (a server without the field)."""
    return out.one_line(session.get("task") or session.get("prompt") or "")


def session_rows(
    sessions: Iterable[Mapping[str, Any]], targets: Mapping[str, str], *, now: float | None = None
) -> list[tuple[object, ...]]:
    """One row per session: id, role, agent, status, task, now, since its last output, cost, target, PR.

    ``task`` falls back to the prompt's first line (a server without the field); absent fields are empty."""
    rows: list[tuple[object, ...]] = []
    for s in sessions:
        usage = s.get("usage") or {}
        target = s.get("target_id")
        rows.append(
            (
                s["id"],
                s.get("role", ""),
                s.get("agent", ""),
                out.status_text(s.get("status", "")),
                task_of(s),
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


QUESTION_COLUMNS = ("ID", "OBJECTIVE", "ASKED BY", "QUESTION")


def question_rows(questions: Iterable[Mapping[str, Any]]) -> list[tuple[object, ...]]:
    """The open questions as the "needs you" panel shows them: id, objective title, the asker's task, the text."""
    return [
        (
            q["id"],
            q.get("objective_title") or q.get("objective_id", ""),
            q.get("asked_by_task") or q.get("asked_by") or "",
            " ".join(out.clean(q.get("text", "")).split()),
        )
        for q in questions
    ]


def needs_you(questions: Iterable[Mapping[str, Any]], *, width: int) -> Table:
    """The questions waiting for the user, their objective, asker and text wrapped (never cut)."""
    return out.table(
        QUESTION_COLUMNS, question_rows(questions), wrap=("OBJECTIVE", "ASKED BY", "QUESTION"), width=width
    )


def dashboard_view(dashboard: Mapping[str, Any], *, width: int, now: float | None = None) -> Any:
    """The dashboard as the terminal shows it: the sessions table, what needs the user (the open questions),
    and a line of counts."""
    titles = {str(o["id"]): str(o["title"]) for o in dashboard.get("objectives", [])}
    order = {ident: i for i, ident in enumerate(titles)}
    sessions = sorted(dashboard.get("sessions", []), key=lambda s: (order.get(s["objective_id"], len(order)),))
    parts: list[Any] = [
        out.table(
            SESSION_COLUMNS,
            session_rows(sessions, target_names(dashboard), now=now),
            wide=("TASK", "NOW"),
            optional=OPTIONAL_COLUMNS,
            width=width,
        )
    ]
    questions = [
        {"objective_title": titles.get(q.get("objective_id", "")), **q} for q in dashboard.get("open_questions", [])
    ]
    if questions:
        parts += [Text("\nneeds you", style="bold"), needs_you(questions, width=width)]
    live = sum(1 for o in dashboard.get("objectives", []) if o.get("status") == "active")
    parts.append(Text(f"{live} active objective(s), {len(sessions)} session(s), {len(questions)} open question(s)"))
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
    send, receive = trio.open_memory_channel[dict[str, Any]](math.inf)

    def handle(event: SseEvent) -> bool:
        if event.event == "line" and isinstance(event.data, dict):
            send.send_nowait(event.data)
        elif event.event == "end":
            ended.update(event.data if isinstance(event.data, dict) else {})
            return True
        return False

    async def summarize() -> None:
        summaries = Summaries(client, ident)
        async with receive:
            async for line in receive:
                show(await summaries.add(line))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(summarize)
        async with send:
            await follow(client, f"/api/sessions/{segment(ident)}/stream", handle)
    print(f"orcha: {ident} ended ({ended.get('status', 'ended')})", file=sys.stderr)
    return 0


@attrs.define
class Summaries:
    """The ``summary`` the messages page gives each line, for the lines of a session's stream (which carry
    none): :func:`orcha.oneline.summaries`' pairing of a tool result with the call before it, done one line
    at a time. Whether a result failed (the stream does not say) is read from the messages page from that
    line on, which answers for the results after it too (a replayed history costs a page, not a request per
    result)."""

    client: Client
    session_id: str
    _calls: list[str | None] = attrs.field(factory=list)
    _failed: dict[int, bool] = attrs.field(factory=dict)

    async def add(self, line: Mapping[str, Any]) -> dict[str, Any]:
        kind, body = str(line.get("kind", "")), str(line.get("body", ""))
        tool, failed = None, False
        if kind == "tool_call":
            self._calls.append(oneline.tool_name(body))
        elif kind == "tool_result":
            tool = self._calls.pop(0) if self._calls else None
            failed = await self._has_failed(int(line.get("seq", 0)))
        return {**line, "summary": oneline.describe(kind, body, failed=failed, tool=tool)}

    async def _has_failed(self, seq: int) -> bool:
        if seq not in self._failed:
            page = await self._page_from(seq - 1)
            for item in page.get("items", []):
                if item.get("kind") == "tool_result":
                    self._failed[int(item["seq"])] = str(item.get("summary") or "").startswith("✗")
        return self._failed.pop(seq, False)

    async def _page_from(self, after: int) -> dict[str, Any]:
        """The messages page after ``after``, asked again while the server cannot be reached (a line read just
        before a restart is summarized once it is back, as the stream resumes); a refusal raises."""
        path = f"/api/sessions/{segment(self.session_id)}/messages"
        attempt = 0
        while True:
            try:
                page: dict[str, Any] = await self.client.get(path, after=after, limit=PAGE)
                return page
            except ClientError as exc:
                if exc.http_status is not None and exc.http_status < 500:
                    raise
            await trio.sleep(RECONNECT_SECONDS[min(attempt, len(RECONNECT_SECONDS) - 1)])
            attempt += 1


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


ENDED = frozenset({"completed", "failed", "canceled"})
_SAFE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_SSH_VALUES = {"-p": re.compile(r"[0-9]{1,5}"), "-i": None, "-o": re.compile(r"UserKnownHostsFile=[^\n]+")}
"""The ssh options orcha writes into an attach command (see ``SshSpec.ssh_argv``) and what their values may be
(``None``: a path, any word that is not an option)."""


def _attach_error(session: Mapping[str, Any], command: object) -> ClientError:
    return ClientError(
        f"refusing to run the attach command the server sent for {session['id']}: {out.one_line(command)!r} is "
        "not `tmux attach -t orcha-<its id>` (or that over `ssh -t`)",
        status=REFUSED,
    )


def check_attach(argv: list[str], session_id: str) -> bool:
    """Whether ``argv`` is what orcha writes, and nothing else: ``tmux attach -t orcha-<session_id>``, alone or
    after ``ssh -t [-p PORT] [-i KEY] [-o UserKnownHostsFile=FILE] [user@]host``."""
    tail = ["tmux", "attach", "-t", f"orcha-{session_id}"]
    if not _SAFE_ID.fullmatch(session_id):
        return False
    if argv == tail:
        return True
    if len(argv) < 3 or argv[:2] != ["ssh", "-t"] or argv[-4:] != tail:
        return False
    words = argv[2:-4]
    seen: set[str] = set()
    while len(words) > 1:
        option, value = words[0], words[1]
        if option not in _SSH_VALUES or option in seen or value.startswith("-"):
            return False
        pattern = _SSH_VALUES[option]
        if pattern is not None and not pattern.fullmatch(value):
            return False
        seen.add(option)
        words = words[2:]
    return len(words) == 1 and not words[0].startswith("-") and re.fullmatch(r"[^\s/]+", words[0]) is not None


def attach_argv(session: Mapping[str, Any]) -> list[str]:
    """The session's attach command as argv (it is run without a shell), once checked to be the one orcha
    writes (:func:`check_attach`: a server is not trusted to name a program); else a clear error."""
    status = str(session.get("status", ""))
    if status in ENDED:
        raise ClientError(f"session {session['id']} has ended ({status}); its pane is gone", status=REFUSED)
    command = session.get("attach_command")
    if not command:
        raise ClientError(
            f"{session['id']} has no terminal to attach to: only sessions in tmux have one "
            "(`orcha serve --tmux`, or an agent that runs in tmux)",
            status=REFUSED,
        )
    try:
        argv = shlex.split(str(command))
    except ValueError:
        raise _attach_error(session, command) from None
    if not check_attach(argv, str(session["id"])):
        raise _attach_error(session, command)
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
