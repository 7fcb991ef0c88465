"""Marked agents: an agent this machine's executor starts carries its database's mark instead of waiting at the
gate for a record; after a crash, the next start finds it in ``/proc`` and stops its group.

Real processes and a real store: an "orcha" in a child process starts an agent through a marked executor, is
killed -9, and the sweep of the next start finds the agent by its mark.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys

import pytest
import trio

from orcha.actors.process_sweep import sweep_marked_processes
from orcha.io.gateway import StoreGateway
from orcha.io.local_executor import LocalExecutor
from orcha.io.local_processes import LocalProcesses
from orcha.io.proc_identity import boot_id, find_marked, observe_group
from orcha.io.store import Store
from orcha.model import SessionStatus, TargetKind, TargetStatus
from orcha.processes import MARK_VARIABLE, SESSION_VARIABLE, KillOutcome, ProcessIdentity, database_mark
from tests.procs import is_dead

S = SessionStatus


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "orcha.db") as opened:
        yield opened


def session_on_target(store: Store, *path: SessionStatus) -> tuple[str, str]:
    """A session placed on a local target and moved along ``path`` (a crash leaves it running)."""
    targets = [t for t in store.list_targets() if t.name == "local"]
    target = (
        targets[0]
        if targets
        else store.create_target(
            name="local", kind=TargetKind.LOCAL, work_root="/tmp/orcha", capacity_sessions=4, status=TargetStatus.ONLINE
        )
    )
    objective, _ = store.create_objective(title="t", prompt="p", agent="fake")
    session = store.create_session(objective_id=objective.id, agent="fake", prompt="w")
    store.claim_target_slot(target.id, session.id)
    for step in path:
        store.update_session_status(session.id, step)
    return session.id, target.id


def environ_of(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/environ", "rb") as handle:
        entries = handle.read().split(b"\0")
    return dict(e.decode().split("=", 1) for e in entries if b"=" in e)


async def until(check, within: float = 10) -> None:
    with trio.fail_after(within):
        while not check():  # noqa: ASYNC110 - polling /proc is the point
            await trio.sleep(0.02)


async def never_called(identity: ProcessIdentity) -> None:
    raise AssertionError(f"a marked agent waits for no record: {identity}")


async def test_a_marked_agent_runs_at_once_with_its_mark_and_session_and_its_children_inherit_them(tmp_path):
    mark = database_mark(str(tmp_path / "orcha.db"))
    executor = LocalExecutor(grace=1.0, mark=mark)
    agent = await executor.start(
        ["sh", "-c", 'sleep 600 & read line; echo "got $line"; wait'],
        env={SESSION_VARIABLE: "ses_a"},
        before_exec=never_called,
        input=b"hello\n",
    )
    tool = await executor.start(["sleep", "600"])  # not an agent (no recorder): never marked
    try:
        await until(lambda: len(observe_group(agent.pid).members) == 2)
        lines = agent.lines()
        assert await lines.__anext__() == "got hello"  # its input reached it whole, no gate's line before it
        for member in observe_group(agent.pid).members:
            env = environ_of(member.pid)
            assert (env[MARK_VARIABLE], env[SESSION_VARIABLE]) == (mark, "ses_a")
        assert MARK_VARIABLE not in environ_of(tool.pid) and MARK_VARIABLE not in os.environ
        found = find_marked(mark)
        assert sorted(p.stat.pid for p in found) == sorted(m.pid for m in observe_group(agent.pid).members)
        assert {p.session_id for p in found} == {"ses_a"}
        assert find_marked(mark + ".other") == []
        assert await LocalProcesses(mark=None).marked() == (boot_id(), [])  # an executor that marks nothing
    finally:
        await agent.kill(grace=0.5)
        await tool.kill(grace=0.5)


async def test_a_marked_start_of_a_missing_program_fails_clearly_and_leaves_nothing(tmp_path):
    executor = LocalExecutor(mark=database_mark(str(tmp_path / "orcha.db")))
    with pytest.raises(Exception, match="cannot run '/no/such/program': No such file or directory"):
        await executor.start(["/no/such/program"], before_exec=never_called)


ORCHA_THAT_DIES = """
import sys, trio
from orcha.io.local_executor import LocalExecutor
from orcha.processes import SESSION_VARIABLE

async def main():
    mark, session_id, *argv = sys.argv[1:]

    async def record(identity):
        raise AssertionError("a marked agent is not recorded")

    agent = await LocalExecutor(mark=mark).start(argv, env={SESSION_VARIABLE: session_id}, before_exec=record)
    print(agent.pid, flush=True)
    await trio.sleep_forever()  # killed -9 here, its agent running

trio.run(main)
"""


async def start_and_kill_orcha(mark: str, session_id: str, argv: list[str], members: int) -> int:
    """Run an orcha that starts a marked agent, wait for the agent's ``members`` processes, kill -9 the orcha;
    the agent's group id."""
    orcha = await trio.lowlevel.open_process(
        [sys.executable, "-c", ORCHA_THAT_DIES, mark, session_id, *argv], stdout=subprocess.PIPE
    )
    try:
        assert orcha.stdout is not None
        with trio.fail_after(20):
            pgid = int((await orcha.stdout.receive_some(100)).decode())
        await until(lambda: len(observe_group(pgid).members) == members)
    finally:
        os.kill(orcha.pid, signal.SIGKILL)
        await orcha.wait()
    return pgid


def leave_nothing(*pgids: int) -> None:
    for pgid in pgids:
        if pgid and observe_group(pgid).members:  # a failed test leaves no agent behind
            os.killpg(pgid, signal.SIGKILL)


async def test_after_a_crash_the_next_start_kills_a_running_session_s_marked_agent_and_its_whole_group(store):
    mark = database_mark(store.path)
    session_id, target_id = session_on_target(store, S.STARTING, S.RUNNING)
    pgid = 0
    try:
        pgid = await start_and_kill_orcha(mark, session_id, ["sh", "-c", "sleep 600 & sleep 600 & wait"], 3)
        assert len(observe_group(pgid).members) == 3  # orcha's death left its agent running
        assert store.list_owned_processes() == []  # nothing was recorded: it is found by its mark

        groups = await sweep_marked_processes(
            StoreGateway(store), LocalProcesses(grace=1.0, mark=mark), target_id=target_id
        )

        assert [(g.identity.pgid, g.session_ids) for g in groups] == [(pgid, (session_id,))]
        assert observe_group(pgid).members == () and is_dead(pgid)
        [killed] = [e for e in store.events_after(0, session_id=session_id) if e.kind == "owned_process_killed"]
        assert (killed.data["pgid"], killed.data["found"], killed.target_id) == (pgid, "mark", target_id)
    finally:
        leave_nothing(pgid)


async def test_an_ended_session_s_detached_process_and_another_database_s_agent_are_left_running(store, tmp_path):
    mark = database_mark(store.path)
    ended, _ = session_on_target(store, S.STARTING, S.RUNNING, S.COMPLETED)
    running, _ = session_on_target(store, S.STARTING, S.RUNNING)
    other_mark = database_mark(str(tmp_path / "another.db"))
    pgids: list[int] = []
    try:
        pgids.append(await start_and_kill_orcha(mark, ended, ["sleep", "600"], 1))
        pgids.append(await start_and_kill_orcha(other_mark, running, ["sleep", "600"], 1))

        groups = await sweep_marked_processes(StoreGateway(store), LocalProcesses(grace=1.0, mark=mark), target_id=None)

        assert groups == []
        assert all(len(observe_group(pgid).members) == 1 for pgid in pgids)
        assert not [e for e in store.events_after(0) if e.kind == "owned_process_killed"]
    finally:
        leave_nothing(*pgids)


async def test_an_agent_that_ignores_sigterm_is_killed_after_the_grace(store):
    mark = database_mark(store.path)
    session_id, target_id = session_on_target(store, S.STARTING, S.RUNNING)
    pgid = 0
    try:
        pgid = await start_and_kill_orcha(mark, session_id, ["sh", "-c", "trap '' TERM; sleep 600 & wait"], 2)
        processes = LocalProcesses(grace=0.3, mark=mark)
        [group] = await sweep_marked_processes(StoreGateway(store), processes, target_id=target_id)
        assert group.identity.pgid == pgid and is_dead(pgid) and observe_group(pgid).members == ()
    finally:
        leave_nothing(pgid)


class _NoProc:
    """A machine whose ``/proc`` cannot be read: nothing may be killed blind."""

    async def marked(self):
        raise OSError(2, "No such file or directory", "/proc")

    async def kill_group(self, identity):
        raise AssertionError("nothing is killed blind")

    async def observe(self, pgid):
        raise AssertionError("not looked at")

    async def kill_tmux_session(self, name):
        raise AssertionError("not looked at")


async def test_without_a_proc_to_read_the_sweep_kills_nothing_and_says_why(store, caplog):
    with caplog.at_level(logging.ERROR, logger="orcha.actors.process_sweep"):
        assert await sweep_marked_processes(StoreGateway(store), _NoProc(), target_id=None) == []
    assert "cannot look for marked agent processes" in caplog.text


async def test_a_group_that_changed_before_its_kill_is_left_and_not_logged_as_killed(store):
    session_id, target_id = session_on_target(store, S.STARTING, S.RUNNING)
    mark = database_mark(store.path)
    pgid = 0
    try:
        pgid = await start_and_kill_orcha(mark, session_id, ["sleep", "600"], 1)

        class Changed(LocalProcesses):
            async def kill_group(self, identity):
                return KillOutcome.CHANGED  # (what the kill reports when the group is not the one seen)

        [group] = await sweep_marked_processes(StoreGateway(store), Changed(mark=mark), target_id=target_id)
        assert group.identity.pgid == pgid and len(observe_group(pgid).members) == 1
        assert not [e for e in store.events_after(0) if e.kind == "owned_process_killed"]
    finally:
        leave_nothing(pgid)


async def test_the_sweep_never_stops_the_group_of_the_orcha_that_runs_it(store):
    """An orcha started from an earlier orcha's agent (in its group, with its marks) does not kill itself."""
    mark = database_mark(store.path)
    session_id, target_id = session_on_target(store, S.STARTING, S.RUNNING)
    env = {**os.environ, MARK_VARIABLE: mark, SESSION_VARIABLE: session_id}
    child = await trio.lowlevel.open_process(["sleep", "600"], env=env)  # in this process's group, as ours are
    try:
        await until(lambda: [p.stat.pid for p in find_marked(mark)] == [child.pid])
        processes = LocalProcesses(grace=0.3, mark=mark)
        groups = await sweep_marked_processes(StoreGateway(store), processes, target_id=target_id)
        assert groups == [] and child.poll() is None
    finally:
        child.kill()
        await child.wait()
