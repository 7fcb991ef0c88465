"""The doctor of a local target: a writable work root, and which tools and agent CLIs are installed.

Each agent CLI is looked for by the name orcha will run (``$ORCHA_CLAUDE``, ``$ORCHA_CODEX``: an absolute path or
a name on PATH, as :func:`orcha.cli._serve.build_providers` uses them) and asked for its version
(``<cli> --version``, bounded in time; each check runs on a worker thread, outside any transaction, and is
reported as soon as it has finished). The
report names the agents whose CLI answered, so a fallback goes only to a provider this target can run. With the
real forge, ``gh`` and its login (``gh auth status``) are required; otherwise they are informational.
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import stat
import subprocess
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import trio

from orcha.doctor import Check, CheckSink, Doctor, DoctorReport, no_progress
from orcha.io.private import PrivatePathError, ensure_private_dir
from orcha.model import Target, TargetKind
from orcha.redact import DEFAULT_REDACTOR

DEFAULT_AGENT_CLIS: Mapping[str, str | None] = {"claude": "claude", "codex": "codex"}
PROBE_SECONDS = 5.0
"""How long ``--version`` or ``gh auth status`` may take before the doctor gives up on it."""
_DETAIL_CHARS = 200


def work_root_check(work_root: str) -> Check:
    """The work root exists (created 0700 when missing), is a folder of the user's, closed to writers other
    than the user, and writable: nobody else can plant files or links in the checkouts."""
    try:
        if not os.path.lexists(work_root):
            ensure_private_dir(work_root)
        info = os.stat(work_root)
    except PrivatePathError as exc:
        return Check(name="work_root", ok=False, detail=str(exc))
    except (OSError, ValueError) as exc:
        return Check(
            name="work_root", ok=False, detail=f"cannot use {work_root!r}: {getattr(exc, 'strerror', None) or exc}"
        )
    if not stat.S_ISDIR(info.st_mode):
        return Check(name="work_root", ok=False, detail=f"{work_root} is not a folder")
    if info.st_uid != os.getuid():
        return Check(name="work_root", ok=False, detail=f"{work_root} belongs to uid {info.st_uid}, not to you")
    if info.st_mode & 0o022:
        mode = f"{stat.S_IMODE(info.st_mode):o}"
        detail = f"{work_root} is writable by other users (mode {mode}): chmod 700 {work_root}"
        return Check(name="work_root", ok=False, detail=detail)
    if not os.access(work_root, os.W_OK):
        return Check(name="work_root", ok=False, detail=f"{work_root} is not writable")
    return Check(name="work_root", ok=True)


@attrs.frozen
class Probe:
    """What a short command said: its exit code (``None``: it could not run or took too long) and output."""

    code: int | None
    output: str

    @property
    def ok(self) -> bool:
        return self.code == 0

    @property
    def first_line(self) -> str:
        lines = [line.strip() for line in self.output.splitlines() if line.strip()]
        return lines[0][:_DETAIL_CHARS] if lines else ""


def probe(argv: list[str], timeout: float | None = None) -> Probe:
    """Run ``argv`` with no stdin, in its own process group, for at most ``timeout`` seconds (default
    :data:`PROBE_SECONDS`; then the whole group is killed): a CLI that hangs on ``--version`` costs the doctor
    that long, never more."""
    timeout = PROBE_SECONDS if timeout is None else timeout
    try:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as exc:
        return Probe(code=None, output=f"cannot run {argv[0]}: {exc.strerror or exc}")
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        try:
            process.communicate(timeout=1.0)
        except subprocess.TimeoutExpired:  # a grandchild left its own group holding the pipe
            pass
        finally:
            if process.stdout is not None:
                process.stdout.close()
        return Probe(code=None, output=f"`{' '.join(argv[1:])}` took longer than {timeout:g}s")
    return Probe(code=process.returncode, output=DEFAULT_REDACTOR.redact(output.decode(errors="replace")))


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except OSError:
        process.kill()


def cli_check(name: str, binary: str, *, required: bool, hint: str = "") -> tuple[Check, bool]:
    """A CLI found by ``binary`` (a path, or a name on PATH) and its version; and whether it is usable."""
    found = shutil.which(binary)
    if found is None:
        return Check(name=name, ok=False, detail=f"{binary!r} not found{hint}", required=required), False
    version = probe([found, "--version"])
    if not version.ok:
        said = version.first_line or f"exit {version.code}"
        detail = f"{found}: `--version` failed: {said}"
        return Check(name=name, ok=False, detail=detail[:_DETAIL_CHARS], required=required), False
    detail = f"{found} ({version.first_line or 'no version printed'})"
    return Check(name=name, ok=True, detail=detail[:_DETAIL_CHARS], required=required), True


def gh_checks(gh: str, *, real_forge: bool) -> list[Check]:
    """``gh`` and its login: required with the real forge, informational with the fake one."""
    installed, usable = cli_check("gh", gh, required=real_forge, hint=" (set $ORCHA_GH or put gh on PATH)")
    if not real_forge:
        installed = attrs.evolve(installed, detail=f"informational (fake forge): {installed.detail}")
    if not usable:
        return [installed, Check(name="gh auth", ok=False, detail="gh is not usable", required=real_forge)]
    found = shutil.which(gh) or gh
    status = probe([found, "auth", "status"])
    if status.ok:
        account = next((line.strip() for line in status.output.splitlines() if "Logged in" in line), "")
        auth = Check(name="gh auth", ok=True, detail=(account or "logged in")[:_DETAIL_CHARS], required=real_forge)
    else:
        said = status.first_line or f"exit {status.code}"
        auth = Check(
            name="gh auth",
            ok=False,
            detail=f"not logged in: {said} (run `gh auth login`)"[:_DETAIL_CHARS],
            required=real_forge,
        )
    return [installed, auth]


def _tool_check(tool: str, *, required: bool) -> Check:
    found = shutil.which(tool)
    return Check(name=tool, ok=found is not None, detail=found or "not installed", required=required)


def _agent_cli_check(name: str, binary: str, hint: str) -> Check:
    return cli_check(name, binary, required=False, hint=hint)[0]  # informational: the summary check decides


async def _local_checks(
    target: Target,
    fake_agents: bool,
    real_forge: bool,
    agent_clis: Mapping[str, str | None],
    gh: str,
    on_check: CheckSink,
) -> DoctorReport:
    """Each check on a worker thread (they stat files and run short probes), told to ``on_check`` once done."""
    checks: list[Check] = []

    async def run(step: Callable[..., Check | list[Check]], *args: Any, **kwargs: Any) -> list[Check]:
        done = await trio.to_thread.run_sync(functools.partial(step, *args, **kwargs))
        found = done if isinstance(done, list) else [done]
        for check in found:
            checks.append(check)
            await on_check(check)
        return found

    await run(work_root_check, target.work_root)
    for tool in ("git", "tmux"):
        await run(_tool_check, tool, required=not fake_agents)
    available: list[str] = []
    with_cli: list[str] = []
    for agent, binary in agent_clis.items():
        if binary is None:  # served without a CLI of its own (a fake, the shell in tmux)
            available.append(agent)
            continue
        with_cli.append(agent)
        hint = f" (set $ORCHA_{agent.upper()} or put it on PATH)"
        [check] = await run(_agent_cli_check, f"{agent} CLI", binary, hint)
        if check.ok:
            available.append(agent)
    found_clis = [a for a in with_cli if a in available]
    if fake_agents or not with_cli:
        summary = Check(name="agent CLI", ok=True, detail="fake agents" if fake_agents else "no agent needs a CLI")
    elif found_clis:
        summary = Check(name="agent CLI", ok=True, detail=", ".join(found_clis))
    else:
        wanted = ", ".join(f"{agent_clis[a]!r} ({a})" for a in with_cli)
        summary = Check(name="agent CLI", ok=False, detail=f"no agent CLI found: looked for {wanted}")
    checks.append(summary)
    await on_check(summary)
    await run(gh_checks, gh, real_forge=real_forge)
    return DoctorReport(checks=tuple(checks), agents=tuple(available))


def local_doctor(
    *,
    fake_agents: bool,
    real_forge: bool = False,
    agent_clis: Mapping[str, str | None] | None = None,
    gh: str = "gh",
) -> Doctor:
    """A doctor for targets of this machine; SSH targets fail it until the SSH executor exists.

    ``agent_clis``: agent name → the binary orcha runs for it (``None``: the agent needs no CLI, e.g. a fake);
    by default ``claude`` and ``codex`` on PATH. ``gh``: the forge's binary (``$ORCHA_GH``), required and
    logged in when ``real_forge``.
    """
    clis = dict(DEFAULT_AGENT_CLIS if agent_clis is None else agent_clis)

    async def doctor(target: Target, /, *, on_check: CheckSink = no_progress) -> DoctorReport:
        if target.kind is TargetKind.SSH:
            check = Check(name="ssh", ok=False, detail="SSH targets are not supported by this build yet")
            await on_check(check)
            return DoctorReport(checks=(check,), agents=())
        return await _local_checks(target, fake_agents, real_forge, clis, gh, on_check)

    return doctor
