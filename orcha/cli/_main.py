"""``orcha`` subcommands. Errors are printed as one clear line, never a traceback, and exit with status 2 (or 1
when a running server refused a request)."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Sequence

import platformdirs

from orcha import __version__
from orcha.cli import _objectives, _serve, _sessions, _targets
from orcha.cli._remote import connection_flags
from orcha.errors import OrchaError


def default_db_path() -> str:
    """The embedded database under the user's data directory (``$ORCHA_DB`` overrides it)."""
    return os.environ.get("ORCHA_DB") or os.path.join(platformdirs.user_data_dir("orcha"), "orcha.db")


def _db_info(args: argparse.Namespace) -> int:
    from orcha.io.store import SCHEMA_VERSION, Store

    if not os.path.exists(args.db):
        print(f"orcha: no database at {args.db} (it is created on first use)", file=sys.stderr)
        return 2
    with Store(args.db, readonly=True) as store:
        dashboard = store.dashboard()
        print(f"database        {store.path}")
        print(f"schema version  {store.schema_version} (this orcha: {SCHEMA_VERSION})")
        print(f"objectives      {len(dashboard.objectives)} shown")
        print(f"sessions        {len(dashboard.sessions)}")
        print(f"targets         {len(dashboard.targets)}")
        print(f"open questions  {len(dashboard.open_questions)}")
        print(f"pull requests   {len(dashboard.pull_requests)}")
        print(f"integrity       {store.integrity_check()}")
    return 0


def _db_backup(args: argparse.Namespace) -> int:
    """A consistent copy of the database, also while `orcha serve` runs on it (SQLite's online backup)."""
    from orcha.io.store import Store

    if not os.path.exists(args.db):
        print(f"orcha: no database at {args.db}", file=sys.stderr)
        return 2
    with Store(args.db, readonly=True) as store:
        store.backup(args.path)
    with Store(args.path, readonly=True) as copy:
        verdict = copy.integrity_check()
    print(f"{args.path}: a copy of {args.db} (integrity {verdict})")
    return 0 if verdict == "ok" else 1


def _db_upgrade(args: argparse.Namespace) -> int:
    from orcha.io.store import Store

    with Store(args.db) as store:
        print(f"{store.path}: schema version {store.schema_version}")
    return 0


def _prune(args: argparse.Namespace) -> int:
    """Remove the checkouts of finished work on this machine's targets (the ``keep`` policy's clean-up)."""
    from orcha.io.store import Store
    from orcha.model import TargetKind

    with Store(args.db) as store:
        local = {t.id for t in store.list_targets() if t.kind is TargetKind.LOCAL}
        removed = 0
        for workspace in store.prunable_workspaces():
            if workspace.target_id not in local or workspace.path is None:
                print(f"skip   {workspace.id} (not on this machine)")
                continue
            print(f"{'would remove' if args.dry_run else 'remove'} {workspace.id} {workspace.path}")
            if not args.dry_run:
                shutil.rmtree(workspace.path, ignore_errors=True)
                store.forget_workspace_path(workspace.id, reason="orcha workspaces prune")
                removed += 1
        print(f"{removed} workspace(s) removed")
    return 0


def _token(args: argparse.Namespace) -> int:
    """Print the API token (``$ORCHA_TOKEN`` if set, else the stored one, created on first use)."""
    from orcha.io.token import load_or_create_token, rotate_token, token_path

    if args.rotate:
        rotate_token()
        print(f"orcha: a new token is in {token_path()}; restart `orcha serve` to use it", file=sys.stderr)
    print((os.environ.get("ORCHA_TOKEN") or "").strip() or load_or_create_token())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="orcha", description="Supervise a team of AI coding agents.")
    parser.add_argument("--version", action="version", version=f"orcha {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the orchestrator, the API and the dashboard")
    _serve.add_arguments(serve, default_db_path())
    serve.set_defaults(handler=_serve.serve)

    token = commands.add_parser(
        "token", help='print the API token (for curl: -H "Authorization: Bearer $(orcha token)")'
    )
    token.add_argument("--rotate", action="store_true", help="replace the stored token with a new one")
    token.set_defaults(handler=_token)

    workspaces = commands.add_parser("workspaces", help="manage checkouts")
    workspace_commands = workspaces.add_subparsers(dest="workspaces_command", required=True, metavar="COMMAND")
    prune = workspace_commands.add_parser("prune", help="remove checkouts that no live session needs")
    prune.add_argument("--db", default=default_db_path(), help="database file (default: %(default)s)")
    prune.add_argument("--dry-run", action="store_true", help="list what would be removed")
    prune.set_defaults(handler=_prune)

    db = commands.add_parser("db", help="inspect or upgrade the database")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="DB_COMMAND")
    for name, handler, text in (
        ("info", _db_info, "show the schema version and what the database holds"),
        ("upgrade", _db_upgrade, "create the database or run pending migrations"),
    ):
        sub = db_commands.add_parser(name, help=text)
        sub.add_argument("--db", default=default_db_path(), help="database file (default: %(default)s)")
        sub.set_defaults(handler=handler)
    backup = db_commands.add_parser("backup", help="copy the database consistently, also while orcha serve runs")
    backup.add_argument("path", help="the new file to write (never overwritten)")
    backup.add_argument("--db", default=default_db_path(), help="database file (default: %(default)s)")
    backup.set_defaults(handler=_db_backup)

    flags = connection_flags()
    for module in (_objectives, _sessions, _targets):
        module.add_parsers(commands, flags)
    for action in connection_flags(before=True)._actions:
        parser._add_action(action)  # `orcha --json ls` as well as `orcha ls --json`
    return parser


def _merge_flags(args: argparse.Namespace) -> argparse.Namespace:
    """The connection flags given before the subcommand, where the subcommand's own were not given."""
    for name in ("server", "token", "json"):
        early = getattr(args, f"early_{name}", None)
        if early is not None and hasattr(args, name) and not getattr(args, name):
            setattr(args, name, early)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``orcha`` command line and return its exit status."""
    args = _merge_flags(build_parser().parse_args(argv))
    try:
        return int(args.handler(args))
    except BrokenPipeError:  # `orcha logs S | head`: the reader left; nothing more to say, and no traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except OrchaError as exc:
        print(f"orcha: {exc}", file=sys.stderr)
        return int(getattr(exc, "status", 2))
    except KeyboardInterrupt:
        return 130
