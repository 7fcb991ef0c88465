"""SSH targets through the API against a real sshd: register (bootstrap + doctor), what is missing, host keys."""

from __future__ import annotations

import pytest

from tests.ssh.conftest import Sshd, ssh_served, target_body


async def test_register_runs_bootstrap_then_doctor_and_goes_online(aio_loop, sshd: Sshd, tmp_path):
    marker = tmp_path / "bootstrapped"
    async with ssh_served(tmp_path) as web:
        reply = await web.client.post("/api/targets", json=target_body(sshd, bootstrap=f"touch '{marker}'",
                                                                       labels=["gpu", "big"]))  # fmt: skip
        assert reply.status_code == 201, reply.text
        data = reply.json()
        assert data["doctor"]["ok"] is True and data["doctor"]["missing"] == []
        checks = {c["name"]: c for c in data["doctor"]["checks"]}
        assert checks["bootstrap"]["ok"] and marker.exists()
        assert {"connection", "tmux", "git", "work_root", "agent CLI", "gh"} <= set(checks)
        assert checks["tmux"]["detail"].startswith("/usr/bin/tmux (tmux ")
        assert data["target"]["status"] == "online" and data["target"]["host_key"].startswith("SHA256:")
        assert data["target"]["metadata"]["labels"] == ["gpu", "big"]
        work = tmp_path.parent / f"{sshd.folder}/work-box"
        assert oct(work.stat().st_mode & 0o777) == "0o700"
        again = await web.client.post(f"/api/targets/{data['target']['id']}/doctor")
        assert again.status_code == 200 and again.json()["doctor"]["ok"]
        assert "bootstrap" not in {c["name"] for c in again.json()["doctor"]["checks"]}  # at registration only


async def test_a_missing_tool_keeps_the_target_offline_and_is_listed(aio_loop, sshd: Sshd, tmp_path):
    async with ssh_served(tmp_path) as web:
        reply = await web.client.post("/api/targets", json=target_body(sshd, "notmux", port=sshd.port_notmux))
        assert reply.status_code == 201, reply.text
        data = reply.json()
        assert data["doctor"]["ok"] is False
        assert data["doctor"]["missing"] == ["tmux: not found on the remote PATH"]
        assert data["target"]["status"] == "offline"
        assert "tmux: not found" in data["target"]["status_reason"]


async def test_trust_on_first_use_records_the_key_and_a_changed_key_is_refused(aio_loop, sshd: Sshd, tmp_path):
    known = tmp_path / "ssh" / "known_hosts"
    async with ssh_served(tmp_path) as web:
        strict = await web.client.post("/api/targets", json=target_body(sshd, "strict", known_hosts=str(known)))
        assert strict.json()["doctor"]["missing"][0].startswith("connection: the host key of root@127.0.0.1")
        assert "not known" in strict.json()["doctor"]["missing"][0]
        body = target_body(sshd, "tofu", known_hosts=str(known), trust_on_first_use=True)
        tofu = (await web.client.post("/api/targets", json=body)).json()
        assert tofu["doctor"]["ok"] and tofu["target"]["host_key"] == tofu["doctor"]["host_key"]
        assert known.read_text().split()[1:] == sshd.host_key_line.split()[1:]
        known.write_text(f"[127.0.0.1]:{sshd.port} {sshd.other_key}\n")
        web.ssh_executors.for_target(web.store.find_target("tofu")).drop()
        changed = (await web.client.post(f"/api/targets/{tofu['target']['id']}/doctor")).json()
        assert not changed["doctor"]["ok"] and "CHANGED" in changed["doctor"]["missing"][0]
        assert changed["target"]["status"] == "offline"


@pytest.mark.parametrize(
    "changes",
    [
        {"host": "-oProxyCommand=touch PWNED"},
        {"user": "root; touch PWNED"},
        {"host": "$(touch PWNED)"},
        {"identity_file": "-oProxyCommand=x"},
        {"known_hosts": "a\nb"},
        {"labels": ["ok", "-bad"]},
        {"labels": "gpu"},
        {"trust_on_first_use": "yes"},
        {"port": 0},
        {"work_root": "relative/path"},
        {"host": None},
    ],
)
async def test_bad_fields_are_a_4xx_with_a_json_body(aio_loop, sshd: Sshd, tmp_path, changes):
    async with ssh_served(tmp_path) as web:
        reply = await web.client.post("/api/targets", json=target_body(sshd, **changes))
        assert 400 <= reply.status_code < 500, reply.text
        assert reply.json()["error"]
        assert not (tmp_path / "PWNED").exists()


async def test_a_hostile_work_root_and_prompt_run_nothing_extra_on_the_target(aio_loop, sshd: Sshd, tmp_path):
    from orcha.agents.fake import Call, Complete, Edit, FakeProvider, Wait
    from orcha.agents.tmux import TmuxProvider
    from orcha.model import SessionRole, SessionStatus
    from tests.gitfixtures import Origin
    from tests.web.harness import eventually

    def script(request):
        if request.role is SessionRole.MANAGER:
            return [Wait(3600)]
        return [Edit("a b; $(touch PWNED).py"), Call("publish_pr", {"title": request.prompt}), Complete("ok")]

    agents = {"claude": FakeProvider(script, name="claude"), "shell": TmuxProvider(log_dir=str(tmp_path / "logs"))}
    hostile = f"{sshd.folder}/w o'r\"k; $(touch PWNED) `touch PWNED` -rf"
    origin = Origin(tmp_path)
    async with ssh_served(tmp_path, providers=agents) as web:
        reply = await web.client.post("/api/targets", json=target_body(sshd, "-x; $(touch PWNED)", work_root=hostile))
        assert reply.status_code == 201 and reply.json()["doctor"]["ok"], reply.text
        ops = web.orchestrator.operations
        objective, _ = await ops.create_objective(title="t", prompt="p", agent="claude", repo=str(origin.path))
        name = "-x; $(touch PWNED)"
        worker = await ops.spawn_session(objective.id, prompt='it\'s "quoted"; $(touch PWNED)', target=name)
        shell = await ops.spawn_session(objective.id, prompt="echo 'safe'-$((6*7))", agent="shell", target=name)
        await eventually(lambda: web.store.get_session(worker.id).status.is_terminal, within=60)
        assert web.store.get_session(worker.id).status is SessionStatus.COMPLETED
        await eventually(lambda: any(e.body == "safe-42" for e in web.store.read_transcript(shell.id).items))
        await web.client.post(f"/api/sessions/{shell.id}/cancel")
        await eventually(lambda: web.store.get_session(shell.id).status.is_terminal)
        paths = [w.path for w in web.store.list_workspaces(objective.id)]
        assert len(paths) == 2 and all(p.startswith(hostile + "/workspaces/") for p in paths)  # checked out there
        assert web.store.list_pull_requests(objective_id=objective.id)
    assert sshd.sh(f"find {tmp_path} {sshd.folder} / -maxdepth 1 -name PWNED | wc -l").stdout.strip() == "0"
    assert sshd.sh(f"find {sshd.folder} {tmp_path} -name PWNED | wc -l").stdout.strip() == "0"


async def test_with_the_real_forge_gh_and_its_login_on_the_target_are_required(aio_loop, sshd: Sshd, tmp_path):
    from orcha.io.ssh_doctor import check_ssh_target, gh_auth_check
    from orcha.io.ssh_executor import SSHExecutor, SSHSpec
    from orcha.model import Target, TargetKind

    logged_out = tmp_path / "gh"  # a gh there that is not logged in
    logged_out.write_text('#!/bin/sh\necho "You are not logged into any GitHub hosts." >&2; exit 1\n')
    logged_out.chmod(0o755)
    target = Target(
        id="tgt_x", name="box", kind=TargetKind.SSH, host=sshd.host, user=sshd.user, port=sshd.port,
        work_root=f"{tmp_path}/work", capacity_sessions=1, created_at=0, updated_at=0,
        metadata={"identity_file": sshd.identity, "known_hosts": sshd.known_hosts},
    )  # fmt: skip
    executor = SSHExecutor(SSHSpec.of(target))
    try:
        fake = await check_ssh_target(executor, target, fake_agents=True, real_forge=False)
        assert fake.ok and not next(c for c in fake.checks if c.name == "gh").required  # informational
        real = await check_ssh_target(executor, target, fake_agents=True, real_forge=True)
        gh, auth = (next(c for c in real.checks if c.name == name) for name in ("gh", "gh auth"))
        assert gh.required and auth.required
        assert real.ok is (gh.ok and auth.ok)
        auth = await gh_auth_check(executor, (str(logged_out), 0, "gh version 2.0"))
        assert not auth.ok and auth.detail.startswith("not logged in there: You are not logged into any GitHub")
    finally:
        await executor.aclose()
