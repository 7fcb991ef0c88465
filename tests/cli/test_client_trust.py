"""What the command line does not trust a server with: the local token (sent only to this machine) and the
program `orcha attach` runs (only orcha's own tmux command). Against a stand-in listener that records what it
receives and answers what a hostile server would."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.cli.served_cli import PYTHON, clean_env, error_line


def _outward_address() -> str | None:
    """This machine's address on its network (not loopback), if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.123", 9))
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    return None if address.startswith("127.") else address


@contextlib.contextmanager
def listener(host: str, answers: dict[str, tuple[int, object]]) -> Iterator[tuple[str, list[dict[str, str]]]]:
    """An HTTP listener on ``host`` answering ``answers[path]`` as JSON; yields its URL and each request's headers."""
    seen: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append({k.lower(): v for k, v in self.headers.items()})
            status, body = answers.get(self.path.split("?")[0], (404, {"error": {"message": "no such thing"}}))
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer((host, 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _with_token_file(home: str) -> dict[str, str]:
    folder = os.path.join(home, "data", "orcha")
    os.makedirs(folder, mode=0o700)
    path = os.path.join(folder, "token")
    with open(path, "w") as file:
        file.write("the-local-servers-token\n")
    os.chmod(path, 0o600)
    return clean_env(home)


def _orcha(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PYTHON, *args], capture_output=True, text=True, timeout=60, env=env, stdin=subprocess.DEVNULL
    )


def test_the_local_token_is_never_sent_to_another_host(tmp_path):
    address = _outward_address()
    if address is None:
        pytest.skip("this machine has no address but loopback")
    env = _with_token_file(str(tmp_path))
    refused = (401, {"error": {"code": "unauthorized", "message": "a token is needed"}})
    with listener(address, {"/api/dashboard": refused}) as (url, seen):
        done = _orcha("ls", "--server", url, env=env)
        assert done.returncode == 2
        line = error_line(done)
        assert "sent only to a server on this machine" in line and "--token" in line and "$ORCHA_TOKEN" in line
        assert seen and all("authorization" not in headers for headers in seen), seen
        given = _orcha("ls", "--server", url, env={**env, "ORCHA_TOKEN": "given-on-purpose"})
        assert given.returncode == 2 and seen[-1]["authorization"] == "Bearer given-on-purpose"
    with listener("127.0.0.1", {"/api/dashboard": refused}) as (url, seen):
        _orcha("ls", "--server", url, env=env)
        assert seen[-1]["authorization"] == "Bearer the-local-servers-token"  # this machine: the token file


def test_attach_refuses_a_command_that_is_not_orcha_s_tmux_attach(tmp_path):
    pwned = tmp_path / "pwned2"
    hostile = {"id": "ses_x", "status": "running", "attach_command": f'sh -c "echo PWNED > {pwned}"'}
    with listener("127.0.0.1", {"/api/sessions/ses_x": (200, hostile)}) as (url, _seen):
        done = _orcha("attach", "ses_x", "--server", url, env=clean_env(str(tmp_path)))
    assert done.returncode == 1 and not pwned.exists()
    assert "refusing to run the attach command the server sent for ses_x" in error_line(done)
