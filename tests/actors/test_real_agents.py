"""The orchestrator driving real provider code: the fake claude CLI, a missing CLI, and a shell in tmux."""

from __future__ import annotations

import shutil

import pytest
import trio

from orcha.agents.claude import ClaudeOptions, ClaudeProvider
from orcha.agents.codex import CodexProvider
from orcha.agents.tmux import TmuxProvider
from orcha.model import SessionMode, SessionStatus
from tests.actors.harness import running, store_of
from tests.agents.conftest import read_log

S = SessionStatus


async def until(check, within: float = 30) -> None:
    with trio.fail_after(within):
        while not check():  # noqa: ASYNC110 - polling the store is the point
            await trio.sleep(0.05)


async def test_a_claude_manager_is_steered_inside_its_one_process(tmp_path, fake_clis):
    providers = {"claude": ClaudeProvider(), "codex": CodexProvider()}
    async with running(tmp_path, providers=providers) as orch:
        store = store_of(orch)
        objective, manager = await orch.operations.create_objective(title="t", prompt="plan the work", agent="claude")
        await until(lambda: store.get_session(manager.id).status is S.WAITING_INPUT)
        await orch.operations.steer(manager.id, "also write docs")
        await until(lambda: store.get_session(manager.id).usage.cost_usd >= 0.02 - 1e-9)
        session = store.get_session(manager.id)
        assert session.mode is SessionMode.INTERACTIVE
        assert session.provider_session_id
        log = read_log(fake_clis, "claude")
        assert len({entry["pid"] for entry in log}) == 1
        assert [e["stdin"] for e in log if "stdin" in e] == ["plan the work", "also write docs"]
        await until(
            lambda: any(e.body.startswith("ack: also write docs") for e in store.read_transcript(manager.id).items)
        )
        worker = await orch.operations.spawn_session(objective.id, prompt="a codex task", agent="codex")
        await until(lambda: store.get_session(worker.id).status is S.COMPLETED)
        assert store.get_session(worker.id).mode is SessionMode.NONINTERACTIVE
        total = sum(s.usage.cost_usd for s in store.list_sessions(objective_id=objective.id))
        assert total >= 0.02 and store.dashboard().objectives[0].cost_usd == pytest.approx(total)


async def test_a_missing_cli_fails_its_session_clearly(tmp_path, fake_clis):
    providers = {"claude": ClaudeProvider(ClaudeOptions(binary="/nonexistent/claude"))}
    async with running(tmp_path, providers=providers) as orch:
        store = store_of(orch)
        _, manager = await orch.operations.create_objective(title="t", prompt="p", agent="claude")
        await until(lambda: store.get_session(manager.id).status is S.FAILED)
        reason = store.get_session(manager.id).status_reason
        assert "cannot run '/nonexistent/claude'" in reason
        assert not any(e.kind == "actor_crashed" for e in store.events_after(0))


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (scripts/test installs it)")
async def test_a_shell_session_in_tmux_is_attachable_steerable_and_has_a_screen(tmp_path, fake_clis):
    providers = {"shell": TmuxProvider(log_dir=str(tmp_path / "logs"))}
    async with running(tmp_path, providers=providers) as orch:
        store = store_of(orch)
        _, manager = await orch.operations.create_objective(title="t", prompt="echo first-$((2*3))", agent="shell")
        await until(lambda: any(e.body == "first-6" for e in store.read_transcript(manager.id).items))
        session = store.get_session(manager.id)
        assert session.attach_command == f"tmux attach -t orcha-{manager.id}"
        await orch.operations.steer(manager.id, "echo second-$((3*3))")
        await until(lambda: any(e.body == "second-9" for e in store.read_transcript(manager.id).items))
        assert "second-9" in await orch.operations.screen(store.get_session(manager.id))
        canceled = await orch.operations.cancel_session(manager.id, "done")
        assert canceled.status is S.CANCELED
        assert (
            await trio.run_process(
                ["tmux", "has-session", "-t", f"orcha-{manager.id}"], check=False, capture_stderr=True
            )
        ).returncode != 0
