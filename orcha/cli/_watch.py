"""``orcha ls --watch``: the dashboard in the terminal, live from the server's websocket (``/ws``).

The websocket sends a snapshot, then one delta per changed row and ``activity`` messages (what sessions are
doing now); :func:`apply_message` folds each into the dashboard (pure), and rich's ``Live`` redraws it. A
dropped connection is opened again (a new snapshot); the view says so meanwhile.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from collections.abc import Mapping
from typing import Any

import trio
from rich.console import Group
from rich.live import Live
from rich.text import Text
from trio_websocket import ConnectionClosed, ConnectionRejected, HandshakeError, open_websocket_url

from orcha.cli import _output as out
from orcha.cli._client import Client, ClientError
from orcha.cli._sessions import dashboard_view

ROWS = {
    "objective": "objectives",
    "session": "sessions",
    "target": "targets",
    "question": "open_questions",
    "pr": "pull_requests",
}
"""A delta's kind → the dashboard's list of such rows."""
TICK_SECONDS = 1.0
"""How often the view is redrawn without news (the "since last output" column moves on)."""
RECONNECT_SECONDS = 1.0


def apply_message(dashboard: Mapping[str, Any], message: Mapping[str, Any]) -> dict[str, Any]:
    """The dashboard after one websocket message (a new one: the argument is left as it was)."""
    kind = message.get("type")
    if kind == "snapshot":
        return dict(message.get("dashboard") or {})
    updated = dict(dashboard)
    if kind == "delta" and message.get("kind") in ROWS:
        key, ident, row = ROWS[str(message["kind"])], message.get("id"), message.get("row")
        rows = [r for r in updated.get(key, []) if r.get("id") != ident]
        if row is not None:
            old = next((i for i, r in enumerate(updated.get(key, [])) if r.get("id") == ident), None)
            rows.insert(len(rows) if old is None else old, dict(row))
        updated[key] = rows
    elif kind == "activity" and isinstance(message.get("now"), Mapping):
        now: Mapping[str, Any] = message["now"]
        sessions = []
        for session in updated.get("sessions", []):
            news = now.get(session.get("id"))
            sessions.append({**session, **news} if isinstance(news, Mapping) else session)
        updated["sessions"] = sessions
    return updated


def websocket_url(server_url: str) -> str:
    return (
        "wss://" + server_url[len("https://") :]
        if server_url.startswith("https://")
        else "ws://" + server_url.removeprefix("http://")
    ) + "/ws"


def _view(dashboard: Mapping[str, Any], note: str, width: int) -> Any:
    stamp = Text(f"orcha  {time.strftime('%H:%M:%S')}  {note}", style="dim")
    return Group(stamp, dashboard_view(dashboard, width=width))


async def watch(client: Client, args: argparse.Namespace) -> int:
    """Show the dashboard until interrupted (with ``--json``: each websocket message as a line of JSON)."""
    dashboard: dict[str, Any] = await client.get("/api/dashboard")  # no server or a bad token: said at once
    headers = [(b"Authorization", f"Bearer {client.server.token}".encode())] if client.server.token else []
    url = websocket_url(client.server.url)
    con = out.console()
    live = None if args.json else Live(_view(dashboard, "connecting…", con.width), console=con, auto_refresh=False)

    def show(note: str) -> None:
        if live is not None:
            live.update(_view(dashboard, note, con.width), refresh=True)

    with live if live is not None else contextlib.nullcontext():
        while True:
            try:
                async with open_websocket_url(url, extra_headers=headers) as socket:
                    show("live")
                    while True:
                        with trio.move_on_after(TICK_SECONDS):
                            message = json.loads(await socket.get_message())
                            if args.json:
                                print(json.dumps(message, ensure_ascii=False), flush=True)
                            dashboard = apply_message(dashboard, message)
                        show("live")
            except ConnectionRejected as exc:
                if exc.status_code in (401, 403):
                    raise ClientError(f"{client.server.url} refused the websocket (HTTP {exc.status_code})") from None
                show(f"refused (HTTP {exc.status_code}): trying again…")
            except (ConnectionClosed, HandshakeError, OSError, ValueError) as exc:
                show(f"disconnected ({type(exc).__name__}): reconnecting…")
            await trio.sleep(RECONNECT_SECONDS)
