"""The boot sweep: what an earlier orcha left running is killed or re-adopted, verified by start time.

The decision is pure (records + what runs now + which sessions go on → steps); the rest runs against real
processes and a real store: an "orcha" in a child process starts an agent through the gate, is killed -9,
and the sweep of the next start finds the agent's group and stops it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
import trio

from orcha.actors.process_sweep import SweepAction, plan_sweep, sweep_owned_processes
from orcha.io.gateway import StoreGateway
from orcha.io.local_processes import LocalProcesses
from orcha.io.proc_identity import boot_id, identity_of, observe_group
from orcha.io.store import Store
from orcha.model import SessionStatus, TargetKind, TargetStatus
from orcha.processes import GroupObservation, OwnedProcess, ProcessIdentity, ProcStat
from tests.procs import is_dead

S = SessionStatus
BOOT = "a7f0dda0-a692-4c31-9066-ec42593dde97"

# --- the decision -----------------------------------------------------------------------------------------


def owned(session_id: str, pgid: int, *, kind: str = "headless", target_id: str = "target_local") -> OwnedProcess:
    identity = ProcessIdentity(pgid=pgid, start_time=1000, boot_id=BOOT, kind=kind, tmux_session=f"orcha-{session_id}")
    return OwnedProcess(session_id=session_id, target_id=target_id, identity=identity, created_at=0.0)


def alive(pgid: int, start_time: int = 1000) -> GroupObservation:
    return GroupObservation(boot_id=BOOT, members=(ProcStat(pid=pgid, state="S", pgid=pgid, start_time=start_time),))


def plan(records, seen, unfinished=()):
    steps = plan_sweep(records, local_targets={"target_local"}, seen=seen, unfinished=set(unfinished))
    return [(step.record.session_id, step.action) for step in steps]


def test_a_live_headless_agent_is_killed_whatever_its_session_s_status():
    records = [owned("ses_running", 10), owned("ses_done", 11)]
    assert plan(records, {10: alive(10), 11: alive(11)}, unfinished={"ses_running"}) == [
        ("ses_running", SweepAction.KILL),
        ("ses_done", SweepAction.KILL),
    ]


def test_a_live_pane_is_kept_for_its_unfinished_session_and_killed_once_its_session_ended():
    records = [owned("ses_running", 10, kind="tmux"), owned("ses_done", 11, kind="tmux")]
    assert plan(records, {10: alive(10), 11: alive(11)}, unfinished={"ses_running"}) == [
        ("ses_running", SweepAction.ADOPT),
        ("ses_done", SweepAction.KILL_PANE),
    ]


def test_a_gone_or_different_process_is_only_forgotten():
    records = [owned("ses_gone", 10), owned("ses_reused", 11, kind="tmux"), owned("ses_rebooted", 12)]
    seen = {
        10: GroupObservation(boot_id=BOOT),
        11: alive(11, start_time=999_999),  # the pid is another program's now
        12: GroupObservation(boot_id="another-boot", members=alive(12).members),
    }
    steps = plan_sweep(records, local_targets={"target_local"}, seen=seen, unfinished={"ses_reused"})
    assert [(s.action, s.reason) for s in steps] == [
        (SweepAction.FORGET, "gone"),
        (SweepAction.FORGET, "a different process now"),
        (SweepAction.FORGET, "a different process now"),
    ]


def test_a_process_of_another_target_is_left_for_that_target_without_looking_at_it():
    assert plan([owned("ses_remote", 10, target_id="target_ssh")], seen={}) == [("ses_remote", SweepAction.LEAVE)]


# --- against real processes and a real store ---------------------------------------------------------------


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "orcha.db") as opened:
        yield opened


def session_on_target(store: Store, status: SessionStatus = S.RUNNING) -> tuple[str, str]:
    """A session placed on the local target and left in ``status`` (as a crash leaves it)."""
    target = store.create_target(
        name="local", kind=TargetKind.LOCAL, work_root="/tmp/orcha", capacity_sessions=4, status=TargetStatus.ONLINE
    )
    objective, _ = store.create_objective(title="t", prompt="p", agent="fake")
    session = store.create_session(objective_id=objective.id, agent="fake", prompt="w")
    store.claim_target_slot(target.id, session.id)
    path = {S.RUNNING: [S.STARTING, S.RUNNING], S.COMPLETED: [S.STARTING, S.RUNNING, S.COMPLETED]}[status]
    for step in path:
        store.update_session_status(session.id, step)
    return session.id, target.id


ORCHA_THAT_DIES = """
import sys, trio
from orcha.io.local_executor import LocalExecutor
from orcha.io.store import Store

async def main():
    db, session_id, target_id, *argv = sys.argv[1:]
    store = Store(db)

    async def record(identity):
        store.record_owned_process(session_id, target_id, identity)

    agent = await LocalExecutor().start(argv, before_exec=record)
    print(agent.pid, flush=True)
    await trio.sleep_forever()  # killed -9 here, its agent running

trio.run(main)
"""


async def until(check, within: float = 10) -> None:
    with trio.fail_after(within):
        while not check():  # noqa: ASYNC110 - polling /proc is the point
            await trio.sleep(0.02)


async def test_after_a_crash_the_next_start_kills_the_headless_agent_s_whole_group_and_forgets_it(store, tmp_path):
    session_id, target_id = session_on_target(store)
    agent = ["sh", "-c", "sleep 600 & sleep 600 & wait"]  # an agent with children of its own
    orcha = await trio.lowlevel.open_process(
        [sys.executable, "-c", ORCHA_THAT_DIES, store.path, session_id, target_id, *agent], stdout=subprocess.PIPE
    )
    pgid = 0
    try:
        assert orcha.stdout is not None
        with trio.fail_after(20):
            pgid = int((await orcha.stdout.receive_some(100)).decode())
        await until(lambda: len(observe_group(pgid).members) == 3)
        os.kill(orcha.pid, signal.SIGKILL)
        await orcha.wait()
        assert len(observe_group(pgid).members) == 3  # orcha's death left its agent running
        [record] = store.list_owned_processes()
        assert (record.session_id, record.identity.pgid) == (session_id, pgid)

        steps = await sweep_owned_processes(StoreGateway(store), LocalProcesses(grace=1.0))

        assert [step.action for step in steps] == [SweepAction.KILL]
        assert observe_group(pgid).members == () and is_dead(pgid)
        assert store.list_owned_processes() == []
        [killed] = [e for e in store.events_after(0, session_id=session_id) if e.kind == "owned_process_killed"]
        assert killed.data["pgid"] == pgid
    finally:
        orcha.kill()
        if pgid and observe_group(pgid).members:  # a failed test leaves no agent behind
            os.killpg(pgid, signal.SIGKILL)


async def started_alone(argv: list[str]) -> trio.Process:
    return await trio.lowlevel.open_process(argv, start_new_session=True)


async def test_a_recorded_pid_that_is_now_another_process_is_not_killed_only_forgotten(store):
    session_id, target_id = session_on_target(store)
    bystander = await started_alone(["sleep", "600"])
    try:
        real = identity_of(bystander.pid)
        for wrong in (
            ProcessIdentity(pgid=bystander.pid, start_time=real.start_time - 1, boot_id=boot_id()),
            ProcessIdentity(pgid=bystander.pid, start_time=real.start_time, boot_id="another-boot"),
        ):
            store.record_owned_process(session_id, target_id, wrong)
            steps = await sweep_owned_processes(StoreGateway(store), LocalProcesses(grace=1.0))
            assert [step.action for step in steps] == [SweepAction.FORGET]
            assert not is_dead(bystander.pid)
            assert store.list_owned_processes() == []
        assert not any(e.kind == "owned_process_killed" for e in store.events_after(0))
    finally:
        bystander.kill()
        await bystander.wait()


class PanesKept(LocalProcesses):
    def __init__(self) -> None:
        super().__init__(grace=1.0)
        self.tmux_killed: list[str] = []

    async def kill_tmux_session(self, name: str) -> None:
        self.tmux_killed.append(name)
        await trio.lowlevel.checkpoint()


@pytest.mark.parametrize("status", [S.RUNNING, S.COMPLETED])
async def test_a_pane_is_kept_while_its_session_goes_on_and_killed_with_its_tmux_session_after(store, status):
    session_id, target_id = session_on_target(store, status)
    pane = await started_alone(["sleep", "600"])
    try:
        identity = identity_of(pane.pid, kind="tmux", tmux_session=f"orcha-{session_id}")
        store.record_owned_process(session_id, target_id, identity)
        processes = PanesKept()
        steps = await sweep_owned_processes(StoreGateway(store), processes)
        kinds = [e.kind for e in store.events_after(0, session_id=session_id)]
        if status is S.RUNNING:
            assert [step.action for step in steps] == [SweepAction.ADOPT]
            assert not is_dead(pane.pid) and processes.tmux_killed == []
            assert [p.identity for p in store.list_owned_processes()] == [identity]
            assert "owned_process_adopted" in kinds
        else:
            assert [step.action for step in steps] == [SweepAction.KILL_PANE]
            assert is_dead(pane.pid) and processes.tmux_killed == [f"orcha-{session_id}"]
            assert store.list_owned_processes() == []
            assert "owned_process_killed" in kinds
    finally:
        pane.kill()
        await pane.wait()


async def test_a_group_that_ignores_sigterm_is_killed_after_the_grace(store):
    session_id, target_id = session_on_target(store)
    stubborn = await started_alone(["sh", "-c", "trap '' TERM; sleep 600 & wait"])
    try:
        await until(lambda: len(observe_group(stubborn.pid).members) == 2)
        store.record_owned_process(session_id, target_id, identity_of(stubborn.pid))
        with trio.fail_after(5):
            await sweep_owned_processes(StoreGateway(store), LocalProcesses(grace=0.5))
        assert observe_group(stubborn.pid).members == ()
        assert store.list_owned_processes() == []
    finally:
        stubborn.kill()
        await stubborn.wait()


class Blind(LocalProcesses):
    async def observe(self, pgid: int) -> GroupObservation:
        raise FileNotFoundError("/proc")


async def test_without_proc_nothing_is_killed_and_the_records_are_kept(store):
    session_id, target_id = session_on_target(store)
    store.record_owned_process(session_id, target_id, ProcessIdentity(pgid=4242, start_time=1, boot_id=BOOT))
    assert await sweep_owned_processes(StoreGateway(store), Blind()) == []
    assert len(store.list_owned_processes()) == 1
