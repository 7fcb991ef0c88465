"""A live test against a real remote machine: ``ORCHA_SSH_TEST_HOST=user@host`` (and optionally
``ORCHA_SSH_TEST_PORT``, ``ORCHA_SSH_TEST_KEY``, ``ORCHA_SSH_TEST_WORK_ROOT``); its key must be in
``~/.ssh/known_hosts`` already (no trust on first use here)."""

from __future__ import annotations

import os

import pytest
import trio

from orcha.io.ssh_doctor import check_ssh_target
from orcha.io.ssh_executor import SSHExecutor, SSHSpec
from orcha.model import Target, TargetKind

HOST = os.environ.get("ORCHA_SSH_TEST_HOST", "")

pytestmark = pytest.mark.skipif(not HOST, reason="set ORCHA_SSH_TEST_HOST=user@host to run against a real machine")


def _target() -> Target:
    user, _, host = HOST.rpartition("@")
    metadata = {"identity_file": os.environ["ORCHA_SSH_TEST_KEY"]} if os.environ.get("ORCHA_SSH_TEST_KEY") else {}
    return Target(
        id="tgt_live", name="live", kind=TargetKind.SSH, host=host, user=user or None,
        port=int(os.environ.get("ORCHA_SSH_TEST_PORT") or 22), capacity_sessions=1, metadata=metadata,
        work_root=os.environ.get("ORCHA_SSH_TEST_WORK_ROOT") or "/tmp/orcha-live-test", created_at=0, updated_at=0,
    )  # fmt: skip


async def test_the_live_host_answers_the_doctor_runs_streams_and_cancels(aio_loop):
    target = _target()
    executor = SSHExecutor(SSHSpec.of(target))
    try:
        report = await check_ssh_target(executor, target, fake_agents=True)
        connection = report.checks[0]
        assert connection.name == "connection" and connection.ok, connection.detail
        assert report.host_key and report.host_key.startswith("SHA256:")
        seen: list[str] = []
        result = await executor.run(["sh", "-c", "echo one; echo two"], on_line=lambda _s, line: seen.append(line))
        assert result.ok and seen == ["one", "two"]
        running = await executor.start(["sh", "-c", "sleep 1001 & sleep 1002; wait"])
        await trio.sleep(0.5)
        assert await executor.group_members(running.pgid)
        await running.kill(grace=1.0)
        assert await executor.group_members(running.pgid) == []
    finally:
        await executor.aclose()
