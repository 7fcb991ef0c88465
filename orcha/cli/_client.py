"""The command line's client of a running ``orcha serve``: where it is, its token, and its HTTP API over httpx.

Every failure to talk to the server becomes a :class:`ClientError`: one line for the user and an exit status
(2: no server, a refused token or an answer that is not orcha's; 1: the server refused the request).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import attrs
import httpx

from orcha import __version__
from orcha.errors import OrchaError
from orcha.io.private import PrivatePathError, read_private_file
from orcha.io.token import token_path

DEFAULT_URL = "http://127.0.0.1:8080"
TIMEOUT = httpx.Timeout(connect=5.0, read=120.0, write=30.0, pool=5.0)
NO_SERVER = 2
REFUSED = 1


class ClientError(OrchaError):
    """A request the command line could not make, or the server refused; ``status`` is the exit status."""

    def __init__(self, message: str, *, status: int = NO_SERVER, http_status: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.http_status = http_status


@attrs.frozen(kw_only=True)
class Server:
    """Where the server is, and the token to show it (``None``: none found; a ``--no-auth`` server takes that)."""

    url: str
    token: str | None
    token_source: str
    """Where the token came from, for messages: ``--token``, ``$ORCHA_TOKEN``, the token file's path, or none."""


def is_loopback(url: str) -> bool:
    """Whether ``url``'s host is this machine (``localhost``, ``127.0.0.0/8``, ``::1``)."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def server_address(url: str) -> str:
    """``url`` as the server's origin (``http://host:port``), or a clear error for one that is not."""
    address = url.strip().rstrip("/")
    if not address.startswith(("http://", "https://")):
        raise ClientError(f"the server address must start with http:// or https://, not {address!r}")
    parts = urlsplit(address)
    if not parts.hostname:
        raise ClientError(f"the server address {address!r} names no host")
    if parts.path or parts.query or parts.fragment:
        origin = f"{parts.scheme}://{parts.netloc}"
        raise ClientError(f"the server address is its origin, {origin}, without a path (not {address!r})")
    return address


def find_server(url: str | None, token: str | None, env: Mapping[str, str] = os.environ) -> Server:
    """The server's address (``--server``, ``$ORCHA_URL``, the default) and token (``--token``,
    ``$ORCHA_TOKEN``, else, for a server on this machine only, the one in the token file, which is read,
    never created: the local server's token is never sent to another host)."""
    address = server_address(url or env.get("ORCHA_URL") or DEFAULT_URL)
    if token and token.strip():
        return Server(url=address, token=token.strip(), token_source="--token")
    if env.get("ORCHA_TOKEN", "").strip():
        return Server(url=address, token=env["ORCHA_TOKEN"].strip(), token_source="$ORCHA_TOKEN")
    if not is_loopback(address):
        return Server(url=address, token=None, token_source="remote")
    path = token_path()
    try:
        stored = read_private_file(path).decode("utf-8", "replace").strip()
    except FileNotFoundError:
        return Server(url=address, token=None, token_source="none")
    except (PrivatePathError, OSError) as exc:
        raise ClientError(f"cannot read the token file: {exc}") from None
    return Server(url=address, token=stored or None, token_source=str(path))


def _refusal(server: Server, response: httpx.Response) -> ClientError:
    """The server's JSON error as one line, or a clear word that whatever answered is not orcha."""
    try:
        error = response.json()["error"]
        message = str(error["message"])
    except (ValueError, KeyError, TypeError):
        return ClientError(f"{server.url} answered HTTP {response.status_code}, not like an orcha server")
    if response.status_code == 401:
        if server.token is None and server.token_source == "remote":
            hint = (
                "no token given: the token file is sent only to a server on this machine, so pass --token "
                "or set $ORCHA_TOKEN (`orcha token` prints it where that server runs)"
            )
        elif server.token is None:
            hint = "no token found: pass --token or set $ORCHA_TOKEN (`orcha token` prints it where orcha runs)"
        else:
            hint = f"the token from {server.token_source} is not this server's (`orcha token` prints the right one)"
        return ClientError(f"{server.url} refused the request: {hint}", http_status=401)
    field = error.get("field") if isinstance(error, dict) else None
    suffix = f" (field {field})" if field and str(field) not in message else ""
    status = REFUSED if 400 <= response.status_code < 500 else NO_SERVER
    return ClientError(
        f"{message}{suffix} (HTTP {response.status_code})", status=status, http_status=response.status_code
    )


def unreachable(server: Server, exc: httpx.TransportError) -> ClientError:
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return ClientError(
            f"no orcha server at {server.url} (start one with `orcha serve`, or point --server or $ORCHA_URL at it)"
        )
    if isinstance(exc, httpx.TimeoutException):
        return ClientError(f"{server.url} did not answer in time")
    return ClientError(f"lost the connection to {server.url}: {exc or type(exc).__name__}")


class Client:
    """The API of one server. Calls block until the answer; cancelling one closes its connection."""

    def __init__(self, server: Server, http: httpx.AsyncClient) -> None:
        self.server = server
        self.http = http

    async def get(self, path: str, **params: Any) -> Any:
        return await self._request("GET", path, params={k: v for k, v in params.items() if v is not None})

    async def post(self, path: str, body: Mapping[str, Any] | None = None, *, wait: float | None = None) -> Any:
        """POST ``body`` as JSON; ``wait``: how long the answer may take (seconds), if not the default."""
        extra: dict[str, Any] = {} if wait is None else {"timeout": httpx.Timeout(wait, connect=5.0)}
        return await self._request("POST", path, json=dict(body or {}), **extra)

    async def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = await self.http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise unreachable(self.server, exc) from None
        if response.status_code >= 400:
            raise _refusal(self.server, response)
        try:
            return response.json()
        except ValueError:
            raise ClientError(f"{self.server.url}{path} answered something that is not JSON") from None

    @contextlib.asynccontextmanager
    async def stream(self, path: str, *, headers: Mapping[str, str] | None = None) -> AsyncIterator[httpx.Response]:
        """A streamed GET (SSE) whose status was checked: a refusal raises before the body is read."""
        request = self.http.build_request(
            "GET", path, headers=dict(headers or {}), timeout=httpx.Timeout(None, connect=5.0)
        )
        try:
            response = await self.http.send(request, stream=True)
        except httpx.TransportError as exc:
            raise unreachable(self.server, exc) from None
        try:
            if response.status_code >= 400:
                await response.aread()
                raise _refusal(self.server, response)
            yield response
        finally:
            await response.aclose()


@contextlib.asynccontextmanager
async def open_client(server: Server) -> AsyncIterator[Client]:
    """An HTTP client of ``server`` with its token on every request."""
    headers = {"User-Agent": f"orcha-cli/{__version__}", "Accept": "application/json"}
    if server.token:
        headers["Authorization"] = f"Bearer {server.token}"
    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=TIMEOUT, trust_env=False) as http:
        yield Client(server, http)
