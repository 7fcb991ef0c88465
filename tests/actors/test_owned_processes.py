"""Owned processes through the actors: a session records its agent's process before it runs and forgets it
once it is dead; at orcha's start the sweep kills what a crashed orcha left, and the session resumes."""

from __future__ import annotations

import trio
import trio.testing

from orcha.actors.messages import CancelSession, Steer
from orcha.agents.claude import ClaudeProvider
from orcha.agents.contract import ProviderSessionStarted, TextOut
from orcha.io.local_executor import LocalExecutor
from orcha.io.local_processes import LocalProcesses
from orcha.io.proc_identity import observe_group
from orcha.io.store import Store
from orcha.model import SessionStatus, TargetKind, TargetStatus
from orcha.processes import ProcessIdentity
from tests.actors.harness import fake, running, store_of, wall_clock
from tests.actors.test_session_actor import a_session
from tests.agents.conftest import read_log
from tests.procs import is_dead

S = SessionStatus
BOOT = "a7f0dda0-a692-4c31-9066-ec42593dde97"


async def until(check, within: float = 30) -> None:
    with trio.fail_after(within):
        while not check():  # noqa: ASYNC110 - polling the store and /proc is the point
            await trio.sleep(0.05)


async def test_a_claude_session_s_process_is_recorded_while_it_runs_and_forgotten_when_it_ends(tmp_path, fake_clis):
    async with running(tmp_path, providers={"claude": ClaudeProvider()}) as orch:
        store = store_of(orch)
        _, manager = await orch.operations.create_objective(title="t", prompt="plan the work", agent="claude")
        await until(lambda: store.get_session(manager.id).status is S.WAITING_INPUT)
        [record] = store.list_owned_processes()
        [pid] = {entry["pid"] for entry in read_log(fake_clis, "claude")}
        assert (record.session_id, record.identity.pgid, record.identity.kind) == (manager.id, pid, "headless")
        assert record.target_id == store.get_session(manager.id).target_id
        await orch.operations.cancel_session(manager.id, "enough")
        await until(lambda: store.list_owned_processes() == [])
        assert is_dead(pid)


HEADLESS = ProcessIdentity(pgid=4242, start_time=1, boot_id=BOOT)
PANE = ProcessIdentity(pgid=5151, start_time=1, boot_id=BOOT, kind="tmux", tmux_session="orcha-x")


async def test_a_closed_run_forgets_its_headless_process_and_the_end_forgets_its_pane(tmp_path, autojump_clock):
    async with a_session(tmp_path, interactive=False) as rig:
        run = await rig.place()
        assert run.request.record_process is not None
        await run.request.record_process(HEADLESS)
        await run.request.record_process(PANE)
        run.feed(ProviderSessionStarted(provider_session_id="psid-1"), TextOut(text="starting"))
        await trio.testing.wait_all_tasks_blocked()
        assert {p.identity.pgid for p in rig.store.list_owned_processes()} == {4242, 5151}
        assert await rig.actor.mailbox.call(Steer(text="the other way")) is None  # cancel + resume
        await rig.provider.next_run()
        assert [p.identity for p in rig.store.list_owned_processes()] == [PANE]
        await rig.actor.mailbox.call(CancelSession(reason="enough"))
        await rig.ended.wait()
        assert rig.store.list_owned_processes() == []


async def test_orcha_s_start_kills_what_a_crashed_orcha_left_running_and_the_session_resumes(tmp_path):
    with Store(tmp_path / "orcha.db", clock=wall_clock) as before:  # what the crashed orcha left in the store
        target = before.create_target(
            name="local", kind=TargetKind.LOCAL, work_root=str(tmp_path / "work"), capacity_sessions=4,
            status=TargetStatus.ONLINE,
        )  # fmt: skip
        _, manager = before.create_objective(title="t", prompt="lead", agent="claude")
        before.place_session(target.id, manager.id)
        before.update_session_status(manager.id, S.STARTING)
        before.update_session_status(manager.id, S.RUNNING)
        before.set_session_fields(manager.id, provider_session_id="psid-before-the-crash")

        async def record(identity: ProcessIdentity) -> None:
            before.record_owned_process(manager.id, target.id, identity)

        agent = await LocalExecutor().start(["sh", "-c", "sleep 600 & wait"], before_exec=record)
    pgid = agent.pid
    provider = fake()
    try:
        await until(lambda: len(observe_group(pgid).members) == 2)
        async with running(tmp_path, providers={"claude": provider}, processes=LocalProcesses(grace=1.0)) as orch:
            assert observe_group(pgid).members == ()
            store = store_of(orch)
            assert store.list_owned_processes() == []
            kinds = [(e.kind, e.data.get("new")) for e in store.events_after(0, session_id=manager.id)]
            killed, requeued = kinds.index(("owned_process_killed", None)), kinds.index(("session_status", "paused"))
            assert killed < requeued  # killed before its session's actor started

            def tried_to_resume() -> bool:  # the fake knows no conversation of the crashed orcha: it starts over
                lines = store.read_transcript(manager.id).items
                return any("cannot resume psid-before-the-crash" in line.body for line in lines)

            await until(tried_to_resume)
            assert "orcha restarted while it ran" in [e.data.get("reason") for e in store.events_after(0)]
    finally:
        await agent.kill(grace=0.5)


async def a_worker_whose_pane_outlived_orcha(tmp_path, **fields):
    """What a stopped orcha leaves: a running worker whose tmux pane (a real ``sleep``) is recorded and
    still runs; returns the worker's id and the pane's process."""
    import attrs

    from orcha.model import SessionRole

    with Store(tmp_path / "orcha.db", clock=wall_clock) as before:
        target = before.create_target(
            name="local", kind=TargetKind.LOCAL, work_root=str(tmp_path / "work"), capacity_sessions=1,
            status=TargetStatus.ONLINE,
        )  # fmt: skip
        objective, _ = before.create_objective(title="t", prompt="lead", agent="claude")
        worker = before.create_session(objective_id=objective.id, agent="claude", prompt="w", role=SessionRole.WORKER)
        before.claim_target_slot(target.id, worker.id)
        before.update_session_status(worker.id, S.STARTING)
        before.update_session_status(worker.id, S.RUNNING)
        pane_name = f"orcha-{worker.id}"
        before.set_session_fields(worker.id, attach_command=f"tmux attach -t {pane_name}", **fields)

        async def record(identity: ProcessIdentity) -> None:
            pane = attrs.evolve(identity, kind="tmux", tmux_session=pane_name)
            before.record_owned_process(worker.id, target.id, pane)

        return worker.id, await LocalExecutor().start(["sleep", "600"], before_exec=record)


async def test_a_pane_found_at_start_is_stopped_when_its_session_is_cancelled_before_it_is_re_attached(tmp_path):
    """A worker's pane outlives a stopped orcha; the next orcha keeps it for re-adoption, but the worker is
    cancelled while it waits for a slot: the pane must die then, not run on unowned until the next start."""
    from orcha.agents.fake import Say, Wait

    worker_id, pane = await a_worker_whose_pane_outlived_orcha(tmp_path)
    try:
        idle = fake(lambda request: [Say("waiting"), Wait(3600)])
        async with running(
            tmp_path, providers={"claude": idle}, capacity=0, processes=LocalProcesses(grace=1.0)
        ) as orch:
            store = store_of(orch)
            await until(lambda: store.get_session(worker_id).status is S.WAITING_CAPACITY)
            assert observe_group(pane.pid).members != ()  # kept at start: its session goes on
            await orch.operations.cancel_session(worker_id, "not needed any more")
            assert store.get_session(worker_id).status is S.CANCELED
            await until(lambda: observe_group(pane.pid).members == ())
            assert store.list_owned_processes() == []
            kinds = [e.kind for e in store.events_after(0, session_id=worker_id)]
            assert "owned_process_adopted" in kinds and "owned_process_killed" in kinds
    finally:
        await pane.kill(grace=0.5)


async def test_a_pane_found_at_start_is_stopped_when_its_session_is_cancelled_while_it_is_being_re_attached(
    tmp_path,
):
    """The same, cancelled while the provider re-attaches the pane (a slow ``resume``): the interrupted start
    holds no run to cancel, so the session's end stops what the store records."""
    from orcha.agents.fake import FakeProvider, Say

    class ReattachingForever(FakeProvider):
        async def resume(self, request, provider_session_id, text):
            reattaching.set()
            await trio.sleep_forever()

    reattaching = trio.Event()
    worker_id, pane = await a_worker_whose_pane_outlived_orcha(tmp_path, provider_session_id="pane-of-before")
    try:
        provider = ReattachingForever(lambda request: [Say("waiting")], clock=wall_clock)
        async with running(
            tmp_path, providers={"claude": provider}, capacity=1, processes=LocalProcesses(grace=1.0)
        ) as orch:
            store = store_of(orch)
            with trio.fail_after(30):
                await reattaching.wait()
            assert observe_group(pane.pid).members != ()
            await orch.operations.cancel_session(worker_id, "not needed any more")
            assert store.get_session(worker_id).status is S.CANCELED
            await until(lambda: observe_group(pane.pid).members == ())
            assert store.list_owned_processes() == []
    finally:
        await pane.kill(grace=0.5)
