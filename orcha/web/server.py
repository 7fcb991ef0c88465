"""Serve the app with hypercorn's trio worker inside the caller's nursery (no second event loop)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import trio
from hypercorn.config import Config
from hypercorn.trio import serve

from orcha.web import direct_send

log = logging.getLogger(__name__)


async def serve_web(
    app: Any,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    shutdown_trigger: Callable[[], Awaitable[None]] | None = None,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until cancelled (or ``shutdown_trigger`` returns); ``task_status`` gets the bound URLs."""
    config = Config()
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    config.graceful_timeout = 2.0
    config.keep_alive_timeout = 5.0
    config.websocket_ping_interval = None
    direct_send.install()  # a connection's bytes straight to its socket when they can go at once
    await serve(app, config, shutdown_trigger=shutdown_trigger, task_status=task_status)
