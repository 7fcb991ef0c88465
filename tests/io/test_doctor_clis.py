"""The local doctor finds each agent CLI by the name orcha will run, records its version, tells which agents
this target can run, and, with the real forge, requires gh and its login."""

from __future__ import annotations

import argparse
import os
import time

import pytest

from orcha.cli._serve import agent_clis
from orcha.doctor import DoctorReport
from orcha.io import doctor as doctor_module
from orcha.io.doctor import local_doctor, probe
from orcha.model import Target, TargetKind


def _target(tmp_path, kind: TargetKind = TargetKind.LOCAL) -> Target:
    return Target(
        id="tgt_000000000001",
        name="local",
        kind=kind,
        work_root=str(tmp_path / "work"),
        capacity_sessions=2,
        created_at=0.0,
        updated_at=0.0,
    )


def _script(folder, name: str, body: str):
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)
    return path


def _gh(folder, *, logged_in: bool):
    auth = (
        'echo "github.com"; echo "  ✓ Logged in to github.com account orcha-bot (keyring)"; exit 0'
        if logged_in
        else 'echo "You are not logged into any GitHub hosts. To log in, run: gh auth login" >&2; exit 1'
    )
    return _script(
        folder,
        "gh",
        f'if [ "$1" = "--version" ]; then echo "gh version 2.62.0 (test)"; exit 0; fi\n'
        f'if [ "$1 $2" = "auth status" ]; then {auth}; fi\nexit 2',
    )


@pytest.fixture
def bare_path(tmp_path, monkeypatch):
    """A PATH with the usual tools but no agent CLI and no gh (tmp_path/bin first, for the test's own)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    system = tmp_path / "system-bin"  # the system's tools, without any agent CLI or gh installed there
    system.mkdir()
    for folder in ("/usr/bin", "/bin"):
        for name in os.listdir(folder):
            if name not in ("claude", "codex", "gh") and not (system / name).exists():
                (system / name).symlink_to(os.path.join(folder, name))
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{system}")
    return bin_dir


def _check(report: DoctorReport, name: str):
    [check] = [c for c in report.checks if c.name == name]
    return check


def _real_args(**overrides) -> argparse.Namespace:
    return argparse.Namespace(real_agents=True, **overrides)


async def test_orcha_claude_names_the_cli_and_its_version_is_recorded(tmp_path, bare_path, monkeypatch):
    cli = _script(tmp_path / "elsewhere", "claude-code", 'echo "2.1.328 (Claude Code)"')
    monkeypatch.setenv("ORCHA_CLAUDE", str(cli))
    monkeypatch.delenv("ORCHA_CODEX", raising=False)
    report = await local_doctor(fake_agents=False, agent_clis=agent_clis(_real_args()))(_target(tmp_path))
    claude = _check(report, "claude CLI")
    assert claude.ok and claude.detail == f"{cli} (2.1.328 (Claude Code))"
    codex = _check(report, "codex CLI")
    assert not codex.ok and "'codex' not found" in codex.detail and "$ORCHA_CODEX" in codex.detail
    assert _check(report, "agent CLI").ok and _check(report, "agent CLI").detail == "claude"
    assert report.agents == ("claude", "shell")  # a fallback may go to claude, never to codex
    assert report.can_run("claude") and not report.can_run("codex")
    assert not _check(report, "gh").required and not _check(report, "gh auth").required  # fake forge


async def test_a_name_on_path_is_found_too(tmp_path, bare_path, monkeypatch):
    _script(bare_path, "my-codex", 'echo "codex-cli 0.169.0"')
    monkeypatch.setenv("ORCHA_CODEX", "my-codex")
    monkeypatch.delenv("ORCHA_CLAUDE", raising=False)
    report = await local_doctor(fake_agents=False, agent_clis=agent_clis(_real_args()))(_target(tmp_path))
    assert _check(report, "codex CLI").detail == f"{bare_path / 'my-codex'} (codex-cli 0.169.0)"
    assert report.agents == ("codex", "shell")


async def test_no_agent_cli_fails_the_doctor_with_what_it_looked_for(tmp_path, bare_path, monkeypatch):
    monkeypatch.setenv("ORCHA_CLAUDE", str(tmp_path / "nowhere" / "claude"))
    monkeypatch.delenv("ORCHA_CODEX", raising=False)
    report = await local_doctor(fake_agents=False, agent_clis=agent_clis(_real_args()))(_target(tmp_path))
    summary = _check(report, "agent CLI")
    assert not summary.ok and summary.required and str(tmp_path / "nowhere" / "claude") in summary.detail
    assert not report.ok and any(m.startswith("agent CLI: no agent CLI found") for m in report.missing)
    assert report.agents == ("shell",)


async def test_a_cli_whose_version_fails_or_hangs_is_not_available(tmp_path, bare_path, monkeypatch):
    monkeypatch.setattr(doctor_module, "PROBE_SECONDS", 0.5)
    broken = _script(tmp_path / "x", "claude", 'echo "node: not found" >&2; exit 127')
    hanging = _script(tmp_path / "x", "codex", "sleep 30 & sleep 30")
    started = time.monotonic()
    report = await local_doctor(fake_agents=False, agent_clis={"claude": str(broken), "codex": str(hanging)})(
        _target(tmp_path)
    )
    assert time.monotonic() - started < 10
    assert "`--version` failed: node: not found" in _check(report, "claude CLI").detail
    assert "took longer than 0.5s" in _check(report, "codex CLI").detail
    assert report.agents == () and not report.ok


async def test_fake_agents_need_no_cli(tmp_path, bare_path):
    report = await local_doctor(fake_agents=True, agent_clis=agent_clis(argparse.Namespace(real_agents=False)))(
        _target(tmp_path)
    )
    assert report.ok, report.missing
    assert report.agents == ("claude", "codex", "shell", "fake")
    assert [c.name for c in report.checks if c.name.endswith(" CLI")] == ["agent CLI"]


async def test_the_real_forge_requires_gh(tmp_path, bare_path):
    report = await local_doctor(fake_agents=True, real_forge=True, agent_clis={})(_target(tmp_path))
    gh, auth = _check(report, "gh"), _check(report, "gh auth")
    assert gh.required and not gh.ok and "'gh' not found" in gh.detail and "$ORCHA_GH" in gh.detail
    assert auth.required and not auth.ok
    assert not report.ok and "gh: 'gh' not found (set $ORCHA_GH or put gh on PATH)" in report.missing


async def test_the_real_forge_requires_gh_logged_in(tmp_path, bare_path):
    gh = _gh(tmp_path / "ghbin", logged_in=False)
    report = await local_doctor(fake_agents=True, real_forge=True, agent_clis={}, gh=str(gh))(_target(tmp_path))
    assert _check(report, "gh").ok and "gh version 2.62.0" in _check(report, "gh").detail
    auth = _check(report, "gh auth")
    assert auth.required and not auth.ok and "not logged into any GitHub hosts" in auth.detail
    assert not report.ok

    gh = _gh(tmp_path / "ghbin2", logged_in=True)
    report = await local_doctor(fake_agents=True, real_forge=True, agent_clis={}, gh=str(gh))(_target(tmp_path))
    assert report.ok, report.missing
    assert "Logged in to github.com account orcha-bot" in _check(report, "gh auth").detail


async def test_without_the_real_forge_gh_is_informational(tmp_path, bare_path):
    gh = _gh(tmp_path / "ghbin", logged_in=False)
    report = await local_doctor(fake_agents=True, agent_clis={}, gh=str(gh))(_target(tmp_path))
    assert report.ok
    assert not _check(report, "gh auth").ok and not _check(report, "gh auth").required
    assert _check(report, "gh").detail.startswith("informational (fake forge)")


async def test_ssh_targets_can_run_no_agent(tmp_path):
    report = await local_doctor(fake_agents=True)(_target(tmp_path, TargetKind.SSH))
    assert not report.ok and report.agents == ()


def test_a_probe_that_cannot_run_says_why(tmp_path):
    result = probe([str(tmp_path / "missing")])
    assert result.code is None and "cannot run" in result.output


def test_a_report_without_agents_rules_nothing_out():
    report = DoctorReport(checks=())
    assert report.agents is None and report.can_run("codex")
