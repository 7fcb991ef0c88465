"""Sessions on an SSH target against a real sshd: the checkout, the agent and its tmux pane all run there."""

from __future__ import annotations

import pathlib
import re

import pytest
import trio

from orcha.agents.fake import Call, Complete, Edit, FakeProvider, Say, Wait
from orcha.agents.tmux import TmuxProvider
from orcha.io.git_forge import GitForge
from orcha.io.local_executor import LocalExecutor
from orcha.model import SessionRole, SessionStatus
from tests.gitfixtures import FAKE_GH, Origin, git
from tests.ssh.conftest import Sshd, drop_connections, ssh_served, target_body
from tests.web.harness import eventually

S = SessionStatus
TICK = re.compile(r"^tick-(\d+)$")


def idle_manager(request):
    if request.role is SessionRole.MANAGER:
        return [Wait(3600)]
    change = f"src/{request.session_id}.py"
    return [Say("working"), Edit(change), Call("record_artifact", {"name": "change", "path": change}),
            Call("publish_pr", {"title": request.prompt}), Complete("ok")]  # fmt: skip


def providers(tmp_path):
    return {
        "claude": FakeProvider(idle_manager, name="claude"),
        "shell": TmuxProvider(log_dir=str(tmp_path / "tmux-logs")),
    }


async def _register(web, sshd: Sshd, name: str = "box") -> dict:
    reply = await web.client.post("/api/targets", json=target_body(sshd, name))
    assert reply.status_code == 201 and reply.json()["doctor"]["ok"], reply.text
    return reply.json()["target"]


def _file(path: str) -> tuple[bytes, int]:
    file = pathlib.Path(path)
    return file.read_bytes(), file.stat().st_mode & 0o777


def ticks(web, session_id: str) -> list[int]:
    return [
        int(m.group(1)) for e in web.store.read_transcript(session_id, limit=1000).items if (m := TICK.match(e.body))
    ]


async def test_a_remote_tmux_session_streams_live_is_attachable_and_cancel_leaves_nothing(aio_loop, sshd, tmp_path):
    async with ssh_served(tmp_path, providers=providers(tmp_path)) as web:
        target = await _register(web, sshd)
        objective, _ = await web.orchestrator.operations.create_objective(title="t", prompt="p", agent="claude")
        prompt = "sleep 1003 & for i in $(seq 1 30); do echo tick-$i; sleep 0.1; done; sleep 1004"
        worker = await web.orchestrator.operations.spawn_session(objective.id, prompt=prompt, agent="shell",
                                                                 target="box")  # fmt: skip
        await eventually(lambda: len(ticks(web, worker.id)) >= 3)
        assert len(ticks(web, worker.id)) < 30  # it streams while the pane still prints
        session = web.store.get_session(worker.id)
        assert session.target_id == target["id"]
        name = f"orcha-{worker.id}"
        assert session.attach_command == (
            f"ssh -t -p {sshd.port} -i {sshd.identity} -o UserKnownHostsFile={sshd.known_hosts} "
            f"root@127.0.0.1 tmux attach -t {name}"
        )
        log = f"{sshd.folder}/work-box/.orcha/tmux/{name}.log"  # the pane log stays on the target
        assert sshd.sh(f"test -s {log} && stat -c %a {sshd.folder}/work-box/.orcha/tmux").stdout.strip() == "700"
        local = f"orcha-attach-{worker.id}"
        await trio.run_process(["tmux", "-L", local, "new-session", "-d", "-s", "L", "-x", "120", "-y", "40",
                                session.attach_command])  # fmt: skip
        try:
            screen = ""
            with trio.fail_after(15):
                while "tick-" not in screen:
                    await trio.sleep(0.1)
                    shown = await trio.run_process(["tmux", "-L", local, "capture-pane", "-p", "-t", "L"],
                                                   capture_stdout=True, check=False)  # fmt: skip
                    screen = shown.stdout.decode(errors="replace")
            clients = sshd.sh(f"tmux list-clients -t {name}").stdout
            assert name in clients  # the recorded command attached to the remote pane
        finally:
            await trio.run_process(["tmux", "-L", local, "kill-server"], check=False)
        await eventually(lambda: 30 in ticks(web, worker.id))
        assert ticks(web, worker.id) == list(range(1, 31))
        reply = await web.client.post(f"/api/sessions/{worker.id}/cancel")
        assert reply.status_code == 200, reply.text
        await eventually(lambda: web.store.get_session(worker.id).status is S.CANCELED)
        left = sshd.sh(f"tmux has-session -t {name}; echo $?; ps -A -o args= | grep -c '[s]leep 100[34]' || true")
        assert left.stdout.split() == ["1", "0"], left.stdout


async def test_a_connection_killed_mid_session_is_recovered_without_a_lost_line(aio_loop, sshd, tmp_path):
    async with ssh_served(tmp_path, providers=providers(tmp_path)) as web:
        await _register(web, sshd)
        objective, _ = await web.orchestrator.operations.create_objective(title="t", prompt="p", agent="claude")
        prompt = "for i in $(seq 1 60); do echo tick-$i; sleep 0.05; done"
        worker = await web.orchestrator.operations.spawn_session(objective.id, prompt=prompt, agent="shell",
                                                                 target="box")  # fmt: skip
        await eventually(lambda: len(ticks(web, worker.id)) >= 5)
        assert drop_connections(sshd) >= 1
        await eventually(lambda: 60 in ticks(web, worker.id), within=40)
        assert ticks(web, worker.id) == list(range(1, 61))  # each line once, in order, none lost
        assert web.ssh_executors.for_target(web.store.find_target("box")).opened >= 2  # it did reconnect
        assert web.store.get_session(worker.id).status is S.RUNNING  # the pane's shell goes on
        await web.client.post(f"/api/sessions/{worker.id}/cancel")
        await eventually(lambda: web.store.get_session(worker.id).status is S.CANCELED)


@pytest.fixture
def fake_gh(tmp_path):
    """The fake gh behind a wrapper that names its state file: the remote side runs it with its own env."""
    state = tmp_path / "gh.json"
    wrapper = tmp_path / "gh"
    wrapper.write_text(f'#!/bin/sh\nFAKE_GH_STATE={state} exec {FAKE_GH} "$@"\n')
    wrapper.chmod(0o755)
    return wrapper


async def test_a_team_with_one_worker_on_ssh_and_one_local_ends_with_two_prs(aio_loop, sshd, tmp_path, fake_gh):
    origin = Origin(tmp_path)
    base = origin.head("main")
    forge = GitForge(local=LocalExecutor(), gh=str(fake_gh))
    async with ssh_served(tmp_path, providers=providers(tmp_path), forge=forge) as web:
        target = await _register(web, sshd)
        ops = web.orchestrator.operations
        objective, _ = await ops.create_objective(
            title="t", prompt="p", agent="claude", repo=str(origin.path), base_branch="main"
        )
        remote = await ops.spawn_session(objective.id, prompt="remote part", target="box")
        local = await ops.spawn_session(objective.id, prompt="local part", target="local")
        for worker in (remote, local):
            await eventually(lambda w=worker: web.store.get_session(w.id).status.is_terminal, within=60)
        assert web.store.get_session(remote.id).status is S.COMPLETED, web.store.get_session(remote.id)
        assert web.store.get_session(local.id).status is S.COMPLETED
        assert web.store.get_session(remote.id).target_id == target["id"]
        prs = {p.session_id: p for p in web.store.list_pull_requests(objective_id=objective.id)}
        assert set(prs) == {remote.id, local.id}
        for worker in (remote, local):
            assert origin.parent(prs[worker.id].branch) == base  # branched off the fresh origin's main
            changed = git("--git-dir", str(origin.path), "show", "--name-only", "--format=", prs[worker.id].branch)
            assert changed == f"src/{worker.id}.py"
        workspaces = {w.target_id: w for w in web.store.list_workspaces(objective.id)}
        assert workspaces[target["id"]].path.startswith(f"{sshd.folder}/work-box/workspaces/")
        artifacts = {a.session_id: a for a in web.store.list_artifacts(objective.id)}
        assert set(artifacts) == {remote.id, local.id}
        copied = artifacts[remote.id].uri.removeprefix("file:")  # copied back here, into a private folder
        assert not copied.startswith(sshd.folder)
        assert _file(copied) == (_file(f"{workspaces[target['id']].path}/src/{remote.id}.py")[0], 0o600)


def _fake_claude(tmp_path, slow: float = 30) -> str:
    """The fake claude CLI behind a wrapper that names its home, log and pace: the remote side has its own env."""
    fake = tmp_path / "claude"
    fake.write_text(
        f"#!/bin/sh\nFAKE_CLAUDE_HOME={tmp_path}/claude-home FAKE_CLAUDE_LOG={tmp_path}/claude.log "
        f'FAKE_CLAUDE_SLOW={slow} exec {FAKE_GH.parent}/claude "$@"\n'
    )
    fake.chmod(0o755)
    return str(fake)


async def test_an_agent_cli_on_the_target_reaches_orcha_s_mcp_through_the_forwarded_port(aio_loop, sshd, tmp_path):
    from orcha.agents.claude import ClaudeOptions, ClaudeProvider
    from tests.agents.conftest import read_log

    fake = tmp_path / "claude"  # the fake claude CLI, its home and log named for the remote side's own env
    fake.write_text(
        f"#!/bin/sh\nFAKE_CLAUDE_HOME={tmp_path}/claude-home FAKE_CLAUDE_LOG={tmp_path}/claude.log "
        f'exec {FAKE_GH.parent}/claude "$@"\n'
    )
    fake.chmod(0o755)
    agents = {**providers(tmp_path), "codex": ClaudeProvider(ClaudeOptions(binary=str(fake)))}
    async with ssh_served(tmp_path, providers=agents) as web:
        await _register(web, sshd)
        objective, _ = await web.orchestrator.operations.create_objective(title="t", prompt="p", agent="claude")
        worker = await web.orchestrator.operations.spawn_session(
            objective.id, prompt="implement the remote part", agent="codex", target="box"
        )
        await eventually(lambda: web.store.get_session(worker.id).status.is_terminal, within=60)
        assert web.store.get_session(worker.id).status is S.COMPLETED, web.store.get_session(worker.id)
        [pr] = web.store.list_pull_requests(objective_id=objective.id)
        assert pr.session_id == worker.id  # publish_pr, called over MCP by the agent running on the target
        executor = web.ssh_executors.for_target(web.store.find_target("box"))
        local_port = int(web.url.rsplit(":", 1)[1])
        assert executor.remote_port not in (None, local_port)
        assert executor.reach_url(f"{web.url}/mcp/x") == f"http://127.0.0.1:{executor.remote_port}/mcp/x"
        [started] = [e for e in read_log(tmp_path, "claude") if "argv" in e]
        config = next(a for a in started["argv"] if a.startswith("--mcp-config="))
        assert config.startswith(f"--mcp-config={sshd.folder}/work-box/.orcha/secrets/")  # written there, 0600


async def test_a_headless_agent_whose_connection_dropped_is_resumed_through_its_session_id(aio_loop, sshd, tmp_path):
    from orcha.agents.claude import ClaudeOptions, ClaudeProvider
    from tests.agents.conftest import read_log

    agents = {**providers(tmp_path), "codex": ClaudeProvider(ClaudeOptions(binary=_fake_claude(tmp_path, slow=3)))}
    async with ssh_served(tmp_path, providers=agents) as web:
        await _register(web, sshd)
        objective, _ = await web.orchestrator.operations.create_objective(title="t", prompt="p", agent="claude")
        worker = await web.orchestrator.operations.spawn_session(
            objective.id, prompt="a slow task", agent="codex", target="box"
        )
        await eventually(lambda: web.store.get_session(worker.id).provider_session_id is not None)
        psid = web.store.get_session(worker.id).provider_session_id
        await trio.sleep(0.5)  # the agent is in its slow turn
        assert drop_connections(sshd) >= 1
        await eventually(lambda: web.store.get_session(worker.id).status.is_terminal, within=60)
        session = web.store.get_session(worker.id)
        assert session.status is S.COMPLETED, session.status_reason
        notes = [e.body for e in web.store.read_transcript(worker.id, limit=1000).items if e.kind == "system"]
        assert f"the agent's run on its SSH target ended mid-turn: resuming {psid}" in notes
        runs = [e["argv"] for e in read_log(tmp_path, "claude") if "argv" in e]
        assert len(runs) == 2 and f"--resume={psid}" in runs[1]
