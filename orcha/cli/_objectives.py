"""``orcha objective new|ls|show|cancel``, ``orcha questions`` and ``orcha answer``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from rich.text import Text

from orcha.cli import _output as out
from orcha.cli._client import Client, ClientError
from orcha.cli._remote import PAGE, find_objective, find_question, read_text, remote, segment
from orcha.cli._sessions import OPTIONAL_COLUMNS, SESSION_COLUMNS, session_rows, task_of

QUESTIONS_SHOWN = PAGE
"""``questions --all`` shows the newest this many (the most a page of ``/api/questions`` holds)."""


def _read_file(path: str) -> str:
    if path == "-":
        return read_text("-", "the prompt")
    try:
        with open(path, encoding="utf-8") as file:
            return read_text(file.read(), f"the prompt file {path}")
    except (OSError, UnicodeDecodeError) as exc:
        raise ClientError(f"cannot read the prompt file {path}: {getattr(exc, 'strerror', None) or exc}") from None


async def objective_new(client: Client, args: argparse.Namespace) -> int:
    prompt = _read_file(args.prompt_file) if args.prompt_file else args.prompt
    body = {"title": args.title, "prompt": prompt, "agent": args.agent, "repo": args.repo}
    body["base_branch"] = args.base_branch
    created = await client.post("/api/objectives", {k: v for k, v in body.items() if v is not None})
    if args.json:
        out.print_json(created)
    else:
        print(f"{created['id']}  {out.clean(created['title'])}  (manager {created['manager_session_id']})")
    return 0


async def objective_ls(client: Client, args: argparse.Namespace) -> int:
    listed = await client.get("/api/objectives", status=args.status, limit=args.limit)
    items: list[dict[str, Any]] = listed.get("items", [])
    if args.json:
        out.print_json(items)
        return 0
    rows = [
        (o["id"], out.status_text(o["status"]), o["agent"], out.ago(o.get("created_at")), o["title"]) for o in items
    ]
    out.print_table(("ID", "STATUS", "AGENT", "AGE", "TITLE"), rows, wide=("TITLE",))
    return 0


async def objective_show(client: Client, args: argparse.Namespace) -> int:
    found = await find_objective(client, args.objective)
    shown = await client.get(f"/api/objectives/{segment(found)}")
    if args.json:
        out.print_json(shown)
        return 0
    names = {str(t["id"]): str(t["name"]) for t in (await client.get("/api/targets")).get("items", [])}
    prs = {p.get("session_id"): p["url"] for p in shown.get("pull_requests", [])}
    sessions = [{"pr_url": prs.get(s["id"]), **s} for s in shown.get("sessions", [])]
    tasks = {str(s["id"]): task_of(s) for s in sessions}

    def by(session_id: object) -> str:
        """A session as its task (its id when it has none)."""
        return tasks.get(str(session_id)) or out.clean(session_id or "")

    con = out.console()
    con.print(Text.assemble((out.clean(shown["title"]), "bold"), "  ", out.status_text(shown["status"])))
    facts = [
        ("id", shown["id"]),
        ("agent", shown["agent"]),
        ("repo", shown.get("repo")),
        ("base branch", shown.get("base_branch")),
        ("created", out.when(shown.get("created_at"))),
        ("summary", shown.get("summary")),
    ]
    for name, value in facts:
        if value:
            con.print(Text(f"{name:<12} {out.clean(value)}"))
    sections: list[tuple[str, tuple[str, ...], list[tuple[object, ...]], tuple[str, ...]]] = [
        ("sessions", SESSION_COLUMNS, session_rows(sessions, names), ("TASK", "NOW")),
        (
            "pull requests",
            ("ID", "STATE", "BRANCH", "URL", "TITLE"),
            [
                (p["id"], out.status_text(p["state"]), p["branch"], p["url"], p.get("title", ""))
                for p in shown.get("pull_requests", [])
            ],
            ("TITLE",),
        ),
        (
            "questions",
            ("ID", "STATUS", "ASKED BY", "QUESTION", "ANSWER"),
            [
                (
                    q["id"],
                    out.status_text(q["status"]),
                    by(q.get("asked_by")),
                    out.one_line(q["text"]),
                    out.one_line(q.get("answer") or ""),
                )
                for q in shown.get("questions", [])
            ],
            ("ASKED BY", "QUESTION", "ANSWER"),
        ),
        (
            "notes",
            ("WHEN", "BY", "NOTE"),
            [
                (out.when(n["created_at"]), by(n.get("session_id")), out.one_line(n["text"]))
                for n in shown.get("notes", [])
            ],
            ("BY", "NOTE"),
        ),
        (
            "artifacts",
            ("NAME", "KIND", "SESSION", "WHERE"),
            [(a["name"], a.get("kind", ""), by(a.get("session_id")), a["uri"]) for a in shown.get("artifacts", [])],
            ("SESSION", "WHERE"),
        ),
    ]
    for title, columns, rows, wide in sections:
        if rows:
            con.print(Text(f"\n{title}", style="bold"))
            optional = OPTIONAL_COLUMNS if columns == SESSION_COLUMNS else ()
            con.print(out.table(columns, rows, wide=wide, optional=optional, width=con.width))
    return 0


async def objective_cancel(client: Client, args: argparse.Namespace) -> int:
    found = await find_objective(client, args.objective)
    body = {"reason": args.reason} if args.reason else {}
    ended = await client.post(f"/api/objectives/{segment(found)}/cancel", body)
    if args.json:
        out.print_json(ended)
    else:
        print(f"{ended['id']}: {ended['status']}")
    return 0


async def named(client: Client, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Questions with their ``objective_title`` and ``asked_by_task`` (the rows of ``/api/questions`` have
    neither): from the objectives and the dashboard's sessions, else each asking session asked for once."""
    if all("objective_title" in q and "asked_by_task" in q for q in items):
        return items
    titles = {str(o["id"]): str(o["title"]) for o in (await client.get("/api/objectives", limit=1000))["items"]}
    tasks = {str(s["id"]): task_of(s) for s in (await client.get("/api/dashboard")).get("sessions", [])}
    for asker in {str(q["asked_by"]) for q in items if q.get("asked_by")} - tasks.keys():
        try:
            tasks[asker] = task_of(await client.get(f"/api/sessions/{segment(asker)}"))
        except ClientError as exc:
            if exc.http_status != 404:
                raise
    return [
        {
            "objective_title": titles.get(str(q.get("objective_id"))),
            "asked_by_task": tasks.get(str(q.get("asked_by"))) or None,
            **q,
        }
        for q in items
    ]


async def questions(client: Client, args: argparse.Namespace) -> int:
    if args.all:
        page = await client.get("/api/questions", limit=QUESTIONS_SHOWN)
        items: list[dict[str, Any]] = page.get("items", [])
        if page.get("more"):
            print(f"orcha: the newest {QUESTIONS_SHOWN} questions; older ones are not shown", file=sys.stderr)
    else:
        items = list((await client.get("/api/dashboard")).get("open_questions", []))
    if args.json:
        out.print_json(items)
        return 0
    rows = [
        (
            q["id"],
            out.status_text(q.get("status", "open")),
            q.get("objective_title") or q["objective_id"],
            q.get("asked_by_task") or q.get("asked_by") or "",
            out.ago(q.get("created_at")),
            " ".join(out.clean(q["text"]).split()),
        )
        for q in await named(client, items)
    ]
    columns = ("ID", "STATUS", "OBJECTIVE", "ASKED BY", "AGE", "QUESTION")
    out.print_table(columns, rows, wrap=("OBJECTIVE", "ASKED BY", "QUESTION"), optional=("AGE", "STATUS"))
    return 0


async def answer(client: Client, args: argparse.Namespace) -> int:
    found = await find_question(client, args.question)
    answered = await client.post(
        f"/api/questions/{segment(found)}/answer", {"answer": read_text(args.text, "the answer")}
    )
    if args.json:
        out.print_json(answered)
    else:
        print(f"{answered['id']}: {answered['status']}")
    return 0


def add_parsers(commands: Any, flags: argparse.ArgumentParser) -> None:
    objective = commands.add_parser("objective", help="start, list, show or cancel objectives")
    sub = objective.add_subparsers(dest="objective_command", required=True, metavar="COMMAND")
    new = sub.add_parser("new", parents=[flags], help="start an objective (its manager plans the work)")
    new.add_argument("title")
    prompt = new.add_mutually_exclusive_group()
    prompt.add_argument("--prompt", help="what to do (default: the title)")
    prompt.add_argument("--prompt-file", metavar="FILE", help="read the prompt from FILE (- for stdin)")
    new.add_argument("--agent", required=True, help="the manager's agent: claude, codex, shell, …")
    new.add_argument("--repo", metavar="URL", help="a repository to work on (a clone URL or path)")
    new.add_argument("--base-branch", metavar="BRANCH", help="the branch to start from (default main)")
    new.set_defaults(handler=remote(objective_new))
    ls = sub.add_parser("ls", parents=[flags], help="list objectives, newest first")
    ls.add_argument("--status", choices=("active", "done", "canceled", "failed"))
    ls.add_argument("--limit", type=int, default=50, help="at most this many (default %(default)s)")
    ls.set_defaults(handler=remote(objective_ls))
    show = sub.add_parser("show", parents=[flags], help="an objective: sessions, PRs, questions, notes, artifacts")
    show.add_argument("objective", metavar="OBJECTIVE", help="its id (or a unique start of it)")
    show.set_defaults(handler=remote(objective_show))
    cancel = sub.add_parser("cancel", parents=[flags], help="cancel an objective and its live sessions")
    cancel.add_argument("objective", metavar="OBJECTIVE")
    cancel.add_argument("--reason")
    cancel.set_defaults(handler=remote(objective_cancel))

    asked = commands.add_parser("questions", parents=[flags], help="the open questions for you")
    asked.add_argument(
        "--all", action="store_true", help=f"answered and closed ones too (the newest {QUESTIONS_SHOWN})"
    )
    asked.set_defaults(handler=remote(questions))
    reply = commands.add_parser("answer", parents=[flags], help="answer a question")
    reply.add_argument("question", metavar="QUESTION", help="its id (or a unique start of it)")
    reply.add_argument("text", metavar="TEXT", help="the answer (- reads it from stdin)")
    reply.set_defaults(handler=remote(answer))
