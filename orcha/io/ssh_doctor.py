"""The doctor of an SSH target: what the machine at the other end has, asked over the target's connection.

Required: the connection (key authentication, the host key verified or, with ``trust_on_first_use``, recorded
on first use), ``tmux`` and ``git``, a work root that is the login user's own private, writable folder
(created 0700 when missing), and at least one agent CLI that answers ``--version`` (unless the agents are
fakes). ``gh`` is informational unless the real forge is used. The tools are looked up with one remote
command (``command -v`` on the login shell's PATH, each version asked with a time limit).
"""

from __future__ import annotations

from collections.abc import Mapping

from orcha.doctor import Check, CheckSink, Doctor, DoctorReport, no_progress
from orcha.errors import OrchaError
from orcha.io.ssh_executor import SSHError, SSHExecutor, SSHExecutors
from orcha.model import Target
from orcha.redact import DEFAULT_REDACTOR

DEFAULT_REMOTE_CLIS: Mapping[str, str | None] = {"claude": "claude", "codex": "codex"}
PROBE_SECONDS = 5
_DETAIL = 200

PROBE_SCRIPT = (
    'limit=$1; shift; while [ "$#" -ge 2 ]; do t=$1; flag=$2; shift 2; '
    'p=$(command -v -- "$t" 2>/dev/null) || { printf "%s\\t\\t127\\t\\n" "$t"; continue; }; '
    'out=$(timeout "$limit" "$p" "$flag" </dev/null 2>&1); rc=$?; '
    'printf "%s\\t%s\\t%s\\t%s\\n" "$t" "$p" "$rc" "$(printf "%s\\n" "$out" | head -n 1 | tr "\\t" " ")"; done'
)
"""``sh -c PROBE_SCRIPT orcha LIMIT TOOL FLAG TOOL FLAG ...``: one ``tool<TAB>path<TAB>rc<TAB>first line`` per
tool (no path and rc 127 when it is not on PATH)."""

WRITABLE_SCRIPT = 'probe="$1/.orcha-doctor-$$"; : > "$probe" && rm -f -- "$probe"'


async def probe_tools(executor: SSHExecutor, tools: list[tuple[str, str]]) -> dict[str, tuple[str, int, str]]:
    """Each tool's (path, exit code of its version flag, first line of output), found on the remote PATH."""
    argv = ["sh", "-c", PROBE_SCRIPT, "orcha-doctor", str(PROBE_SECONDS)]
    for tool, flag in tools:
        argv += [tool, flag]
    result = (await executor.run(argv)).check()
    found: dict[str, tuple[str, int, str]] = {}
    for line in result.stdout.splitlines():
        parts = line.split("\t")
        if len(parts) == 4 and parts[2].lstrip("-").isdigit():
            found[parts[0]] = (parts[1], int(parts[2]), DEFAULT_REDACTOR.redact(parts[3].strip())[:_DETAIL])
    return found


def _tool_check(name: str, seen: tuple[str, int, str] | None, *, required: bool) -> Check:
    if seen is None or not seen[0]:
        return Check(name=name, ok=False, detail="not found on the remote PATH", required=required)
    path, code, first = seen
    if code != 0:
        return Check(
            name=name, ok=False, detail=f"{path}: version check exited {code}: {first}"[:_DETAIL], required=required
        )
    return Check(name=name, ok=True, detail=f"{path} ({first or 'no version printed'})"[:_DETAIL], required=required)


async def work_root_check(executor: SSHExecutor, work_root: str) -> Check:
    try:
        await executor.make_private_dir(work_root)
    except OrchaError as exc:
        return Check(name="work_root", ok=False, detail=str(exc)[:_DETAIL])
    if not (await executor.run(["sh", "-c", WRITABLE_SCRIPT, "orcha", work_root])).ok:
        return Check(name="work_root", ok=False, detail=f"{work_root} is not writable")
    return Check(name="work_root", ok=True, detail=work_root)


async def check_ssh_target(
    executor: SSHExecutor,
    target: Target,
    *,
    fake_agents: bool,
    real_forge: bool = False,
    agent_clis: Mapping[str, str | None] = DEFAULT_REMOTE_CLIS,
    on_check: CheckSink = no_progress,
) -> DoctorReport:
    """Connect and check the target (see the module's docstring), telling ``on_check`` of each check as it is
    known (the tools all at once: one remote command looks for them)."""
    checks: list[Check] = []

    async def done(*found: Check) -> None:
        for check in found:
            checks.append(check)
            await on_check(check)

    trust = bool(target.metadata.get("trust_on_first_use"))
    try:
        fingerprint = await executor.check_host(trust_on_first_use=trust)
    except SSHError as exc:
        await done(Check(name="connection", ok=False, detail=str(exc)))
        return DoctorReport(checks=tuple(checks), agents=())
    where = f"{executor.spec.destination} port {executor.spec.port}"
    await done(Check(name="connection", ok=True, detail=f"{where}, host key {fingerprint}"))
    clis = {agent: binary for agent, binary in agent_clis.items() if binary is not None}
    tools = [("tmux", "-V"), ("git", "--version"), ("gh", "--version")]
    tools += [(binary, "--version") for binary in clis.values()]
    try:
        seen = await probe_tools(executor, tools)
        await done(await work_root_check(executor, target.work_root))
    except OrchaError as exc:
        await done(Check(name="tools", ok=False, detail=f"cannot look for the tools: {exc}"[:_DETAIL]))
        return DoctorReport(checks=tuple(checks), agents=(), host_key=fingerprint)
    await done(_tool_check("tmux", seen.get("tmux"), required=True), _tool_check("git", seen.get("git"), required=True))
    available = [agent for agent, binary in agent_clis.items() if binary is None]
    found = []
    for agent, binary in clis.items():
        check = _tool_check(f"{agent} CLI", seen.get(binary), required=False)
        await done(check)
        if check.ok:
            found.append(agent)
    available += found
    if fake_agents or not clis:
        await done(Check(name="agent CLI", ok=True, detail="fake agents" if fake_agents else "none needed"))
    elif found:
        await done(Check(name="agent CLI", ok=True, detail=", ".join(found)))
    else:
        wanted = ", ".join(f"{b!r} ({a})" for a, b in clis.items())
        await done(
            Check(name="agent CLI", ok=False, detail=f"no agent CLI found on the remote PATH: looked for {wanted}")
        )
    gh = _tool_check("gh", seen.get("gh"), required=real_forge)
    if not real_forge:
        gh = Check(name="gh", ok=gh.ok, detail=f"informational: {gh.detail}", required=False)
    await done(gh)
    if real_forge:  # PRs are opened by gh there, from the session's checkout
        await done(await gh_auth_check(executor, seen.get("gh")) if gh.ok else GH_UNUSABLE)
    return DoctorReport(checks=tuple(checks), agents=tuple(available), host_key=fingerprint)


GH_UNUSABLE = Check(name="gh auth", ok=False, detail="gh is not usable there")


async def gh_auth_check(executor: SSHExecutor, seen: tuple[str, int, str] | None) -> Check:
    """``gh auth status`` on the target, bounded in time: gh there must be logged in to open PRs."""
    path = seen[0] if seen else "gh"
    result = await executor.run(["timeout", str(PROBE_SECONDS), path, "auth", "status"])
    said = DEFAULT_REDACTOR.redact(result.stdout + result.stderr)
    if result.ok:
        account = next((line.strip() for line in said.splitlines() if "Logged in" in line), "logged in")
        return Check(name="gh auth", ok=True, detail=account[:_DETAIL])
    first = next((line.strip() for line in said.splitlines() if line.strip()), f"exit {result.exit_code}")
    return Check(name="gh auth", ok=False, detail=f"not logged in there: {first} (run `gh auth login` on it)"[:_DETAIL])


def ssh_doctor(
    executors: SSHExecutors,
    *,
    fake_agents: bool,
    real_forge: bool = False,
    agent_clis: Mapping[str, str | None] | None = None,
) -> Doctor:
    """A doctor for SSH targets, over the pooled connections of ``executors``.

    ``agent_clis``: agent name → the binary looked for on the remote PATH (``None``: the agent needs none)."""
    clis = dict(DEFAULT_REMOTE_CLIS if agent_clis is None else agent_clis)

    async def doctor(target: Target, /, *, on_check: CheckSink = no_progress) -> DoctorReport:
        try:
            executor = executors.for_target(target)
        except OrchaError as exc:
            check = Check(name="connection", ok=False, detail=str(exc))
            await on_check(check)
            return DoctorReport(checks=(check,), agents=())
        return await check_ssh_target(
            executor, target, fake_agents=fake_agents, real_forge=real_forge, agent_clis=clis, on_check=on_check
        )

    return doctor
