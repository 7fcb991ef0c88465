"""The boot sweep on an SSH target: what an orcha that died left running there is found over the connection
and stopped, and only when it is still the recorded group."""

from __future__ import annotations

import attrs
import trio

from orcha.actors.process_sweep import SweepAction, sweep_owned_processes
from orcha.io.gateway import StoreGateway
from orcha.io.ssh_executor import SSHExecutor
from orcha.io.ssh_processes import SSHProcesses
from orcha.io.store import Store
from orcha.model import TargetKind
from tests.ssh.conftest import Sshd
from tests.ssh.test_ssh_executor import spec_of


async def test_the_boot_sweep_stops_a_remote_agent_an_earlier_orcha_left_and_spares_a_changed_group(
    aio_loop, sshd: Sshd, tmp_path
):
    store = Store(tmp_path / "orcha.db")
    target = store.create_target(
        name="box", kind=TargetKind.SSH, host=sshd.host, work_root=str(tmp_path), capacity_sessions=2
    )
    objective, _manager = store.create_objective(title="t", prompt="p", agent="fake")
    left = store.create_session(objective_id=objective.id, agent="fake", prompt="p")
    other = store.create_session(objective_id=objective.id, agent="fake", prompt="p")
    earlier = SSHExecutor(spec_of(sshd))  # the orcha that dies: its connection goes, its agents stay
    identities = []

    async def record(identity):
        identities.append(identity)

    try:
        await earlier.start(["sh", "-c", "sleep 1005 & sleep 1006; wait"], before_exec=record)
        await earlier.start(["sh", "-c", "sleep 1007; wait"], before_exec=record)
        await trio.sleep(0.3)  # both released and running when this orcha dies
    finally:
        await earlier.aclose()
    store.record_owned_process(left.id, target.id, identities[0])
    changed = attrs.evolve(identities[1], start_time=identities[1].start_time + 1)  # the pgid now names another
    store.record_owned_process(other.id, target.id, changed)
    await trio.sleep(0.3)
    assert sshd.sh("pgrep -c -f '^sleep 100[567]$'").stdout.strip() == "3"
    executor = SSHExecutor(spec_of(sshd))
    try:
        steps = await sweep_owned_processes(
            StoreGateway(store, inline=True), SSHProcesses(executor, grace=1.0), target_ids={target.id}
        )
        assert {s.record.session_id: s.action for s in steps} == {
            left.id: SweepAction.KILL,
            other.id: SweepAction.FORGET,
        }
        assert sshd.sh("pgrep -c -f '^sleep 100[56]$' || true").stdout.strip() == "0"
        assert sshd.sh("pgrep -c -f '^sleep 1007$' || true").stdout.strip() == "1"  # not signalled
        assert store.list_owned_processes() == []
        assert await executor.kill_group(identities[1].pgid, grace=0.5)
    finally:
        await executor.aclose()
        store.close()
