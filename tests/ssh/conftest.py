"""A real OpenSSH server on loopback for the SSH tests (see ../shared/reference/ssh-testing.md).

One ``sshd`` per test session, started as root with throwaway host and client keys in a temporary folder,
listening on two ports: on the second, ``SetEnv PATH`` points at a folder with every tool but ``tmux`` (the
doctor's "missing tool" case). Skipped with the reason only when sshd cannot run here at all.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator

import attrs
import pytest

SSHD = "/usr/sbin/sshd"


@attrs.frozen(kw_only=True)
class Sshd:
    host: str
    port: int
    port_notmux: int
    user: str
    identity: str
    known_hosts: str
    host_key_line: str
    other_key: str
    """A key that is not the host's ("type base64"), to plant as a changed host key."""
    folder: str
    pid: int

    def ssh(self, *remote: str, port: int | None = None, tty: bool = False) -> list[str]:
        """The ``ssh`` command line that runs ``remote`` (one shell string) on the server, key auth only."""
        return [
            "ssh", *(["-tt", "-q"] if tty else []), "-F", "/dev/null", "-p", str(port or self.port), "-i",
            self.identity, "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none", "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={self.known_hosts}",
            "-o", "GlobalKnownHostsFile=/dev/null", f"{self.user}@{self.host}", *remote,
        ]  # fmt: skip

    def sh(self, script: str) -> subprocess.CompletedProcess[str]:
        """Run ``script`` on the server over the ssh CLI (the tests' independent view of the remote side)."""
        return subprocess.run(self.ssh(script), capture_output=True, text=True, timeout=30, check=False)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _why_not() -> str | None:
    if not os.path.exists(SSHD):
        return f"{SSHD} is not installed (scripts/test installs openssh-server)"
    if os.geteuid() != 0:
        return "sshd on loopback needs root here (it logs in as root with a throwaway key)"
    if shutil.which("ssh-keygen") is None or shutil.which("ssh") is None:
        return "the OpenSSH client (ssh, ssh-keygen) is not installed"
    return None


def _sweep(port: int) -> None:
    """Stop what the run left running remotely: every process whose SSH_CONNECTION names this server."""
    tags = (b" 127.0.0.1 %d" % port,)
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/environ", "rb") as file:
                env = file.read().split(b"\0")
        except OSError:
            continue
        if int(pid) != os.getpid() and any(e.startswith(b"SSH_CONNECTION=") and e.endswith(tags) for e in env):
            with contextlib.suppress(OSError):
                os.kill(int(pid), signal.SIGKILL)


@pytest.fixture(scope="session")
def sshd(tmp_path_factory) -> Iterator[Sshd]:
    why = _why_not()
    if why is not None:
        pytest.skip(f"no real sshd for the SSH tests: {why}")
    folder = tmp_path_factory.mktemp("sshd")
    folder.chmod(0o755)
    for name in ("host", "client"):
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(folder / f"{name}_ed25519")],
            check=True,
        )
    shutil.copy(folder / "client_ed25519.pub", folder / "authorized_keys")
    notmux = folder / "notmux"
    notmux.mkdir()
    for name in os.listdir("/usr/bin"):
        if name != "tmux":
            os.symlink(f"/usr/bin/{name}", notmux / name)
    os.makedirs("/run/sshd", 0o755, exist_ok=True)
    key_type, key_text = (folder / "host_ed25519.pub").read_text().split()[:2]
    log = folder / "sshd.log"
    for _attempt in range(5):
        port, port_notmux = _free_port(), _free_port()
        (folder / "sshd_config").write_text(
            f"ListenAddress 127.0.0.1\nPort {port}\nPort {port_notmux}\nHostKey {folder}/host_ed25519\n"
            f"AuthorizedKeysFile {folder}/authorized_keys\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nPubkeyAuthentication yes\nUsePAM no\nStrictModes no\n"
            f"PermitRootLogin prohibit-password\nPidFile {folder}/sshd.pid\nSubsystem sftp internal-sftp\n"
            "MaxSessions 50\nMaxStartups 50\n"
            f"Match LocalPort {port_notmux}\n    SetEnv PATH={notmux}\n"
        )
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                [SSHD, "-D", "-e", "-f", str(folder / "sshd_config")],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 10
        ready = False
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                socket.create_connection(("127.0.0.1", port_notmux), 0.2).close()
                ready = True
                break
            except OSError:
                time.sleep(0.02)
        if ready:
            break
        proc.kill()
        proc.wait()
    else:
        pytest.skip(f"sshd cannot run here: {log.read_text()[-500:]}")
    line = f"[127.0.0.1]:{port},[127.0.0.1]:{port_notmux} {key_type} {key_text}"
    (folder / "known_hosts").write_text(line + "\n")
    (folder / "known_hosts").chmod(0o600)
    server = Sshd(
        host="127.0.0.1",
        port=port,
        port_notmux=port_notmux,
        user="root",
        identity=str(folder / "client_ed25519"),
        known_hosts=str(folder / "known_hosts"),
        host_key_line=line,
        other_key=" ".join((folder / "client_ed25519.pub").read_text().split()[:2]),
        folder=str(folder),
        pid=proc.pid,
    )
    try:
        yield server
    finally:
        for p in (port, port_notmux):
            _sweep(p)
        children = subprocess.run(["ps", "--ppid", str(proc.pid), "-o", "pid="], capture_output=True, text=True)
        for pid in children.stdout.split():
            with contextlib.suppress(OSError):
                os.kill(int(pid), signal.SIGTERM)
        proc.terminate()
        proc.wait(5)


def drop_connections(server: Sshd) -> int:
    """Kill the per-connection sshd processes (the listener's children): every client connection drops."""
    children = subprocess.run(["ps", "--ppid", str(server.pid), "-o", "pid="], capture_output=True, text=True)
    killed = 0
    for pid in children.stdout.split():
        with contextlib.suppress(OSError):
            os.kill(int(pid), signal.SIGKILL)
            killed += 1
    return killed


@pytest.fixture
async def aio_loop():
    from orcha.io.ssh_executor import open_ssh_loop

    async with open_ssh_loop():
        yield


HERE = os.path.dirname(__file__)


def pytest_collection_modifyitems(session, config, items):
    """The SSH tests run last: the asyncio loop they open (trio-asyncio) replaces the process's asyncio event
    loop policy for good, which the browser tests' Playwright (plain asyncio) must not meet."""
    items.sort(key=lambda item: str(item.path).startswith(HERE))


FAKES = dict.fromkeys(("claude", "codex", "shell"))
"""The agents of the tests, as ``orcha serve --fake-agents`` names them: none needs a CLI of its own."""


@contextlib.asynccontextmanager
async def ssh_served(tmp_path, **kwargs):
    """The web harness (orchestrator + HTTP) with SSH targets: the real SSH executors and doctor, fake agents.
    Needs the ``aio_loop`` fixture."""
    from orcha.doctor import doctor_by_kind
    from orcha.io.ssh_doctor import ssh_doctor
    from orcha.io.ssh_executor import SSHExecutors
    from orcha.model import TargetKind
    from tests.actors.harness import passing_doctor
    from tests.web.harness import served

    executors = SSHExecutors(grace=1.0)
    doctor = doctor_by_kind(
        {TargetKind.LOCAL: passing_doctor, TargetKind.SSH: ssh_doctor(executors, fake_agents=True, agent_clis=FAKES)}
    )
    try:
        async with served(tmp_path, doctor=doctor, ssh_executor=executors.for_target, **kwargs) as web:
            executors.on_unreachable = web.orchestrator.target_unreachable
            executors.forward_to = int(web.url.rsplit(":", 1)[1].rstrip("/"))
            web.ssh_executors = executors
            yield web
    finally:
        await executors.aclose()


def target_body(server: Sshd, name: str = "box", **changes) -> dict:
    body = {
        "name": name, "kind": "ssh", "host": server.host, "user": server.user, "port": server.port,
        "work_root": f"{server.folder}/work-{name}", "capacity_sessions": 2, "identity_file": server.identity,
        "known_hosts": server.known_hosts,
    }  # fmt: skip
    return {**body, **changes}
