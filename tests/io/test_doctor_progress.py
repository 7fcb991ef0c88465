"""The local doctor tells of each check as it finishes, while later checks still run."""

from __future__ import annotations

import time

import trio

from orcha.doctor import Check
from orcha.io.doctor import local_doctor
from orcha.model import Target, TargetKind


def _target(tmp_path) -> Target:
    return Target(
        id="tgt_1",
        name="local",
        kind=TargetKind.LOCAL,
        work_root=str(tmp_path / "work"),
        capacity_sessions=1,
        created_at=0.0,
        updated_at=0.0,
    )


async def test_each_check_is_told_as_it_finishes_before_the_slow_ones_are_done(tmp_path):
    flag = tmp_path / "go"
    cli = tmp_path / "slow-claude"
    cli.write_text(f'#!/bin/sh\nwhile [ ! -e "{flag}" ]; do sleep 0.02; done\necho "slow 1.0"\n')
    cli.chmod(0o700)
    told: list[Check] = []

    async def on_check(check: Check) -> None:
        told.append(check)

    doctor = local_doctor(fake_agents=True, agent_clis={"claude": str(cli), "fake": None}, gh="no-such-gh")
    reports = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(lambda: _run(doctor, _target(tmp_path), on_check, reports))
        deadline = time.monotonic() + 20
        while len(told) < 3:  # a real subprocess holds the fourth check
            assert time.monotonic() < deadline, told
            await trio.sleep(0.02)
        assert [c.name for c in told] == ["work_root", "git", "tmux"] and not reports
        flag.touch()
    [report] = reports
    assert told == list(report.checks)  # every check told once, in the report's order
    assert [c.name for c in told[3:]] == ["claude CLI", "agent CLI", "gh", "gh auth"]
    assert told[3].ok and "slow 1.0" in told[3].detail and report.agents == ("claude", "fake")


async def _run(doctor, target, on_check, reports) -> None:
    reports.append(await doctor(target, on_check=on_check))


async def test_without_a_listener_the_report_is_the_same(tmp_path):
    doctor = local_doctor(fake_agents=True, agent_clis={}, gh="no-such-gh")
    told: list[Check] = []

    async def on_check(check: Check) -> None:
        told.append(check)

    quiet = await doctor(_target(tmp_path))
    watched = await doctor(_target(tmp_path), on_check=on_check)
    assert quiet.checks == watched.checks == tuple(told)


async def test_an_ssh_target_s_refusal_is_told_too(tmp_path):
    told: list[Check] = []

    async def on_check(check: Check) -> None:
        told.append(check)

    target = Target(
        id="t",
        name="box",
        kind=TargetKind.SSH,
        host="h",
        work_root="/w",
        capacity_sessions=1,
        created_at=0.0,
        updated_at=0.0,
    )
    report = await local_doctor(fake_agents=True)(target, on_check=on_check)
    assert told == list(report.checks) and not report.ok
