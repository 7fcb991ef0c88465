"""The executor's gate: a process's identity is recorded before its program runs, and never runs unrecorded."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import sys

import pytest
import trio

from orcha.executor import CommandError
from orcha.io.local_executor import LocalExecutor
from orcha.io.proc_identity import boot_id, observe_group, read_stat
from orcha.processes import ProcessIdentity
from tests.procs import is_dead


def marking(marker, then: str = "cat") -> list[str]:
    """A program that leaves ``marker`` as soon as it runs, then does ``then``."""
    return ["sh", "-c", f"touch {shlex.quote(str(marker))}; {then}"]


async def until(check, within: float = 10) -> None:
    with trio.fail_after(within):
        while not check():  # noqa: ASYNC110 - polling /proc and the file system is the point
            await trio.sleep(0.02)


async def test_the_recorder_runs_before_the_program_and_the_program_s_input_is_untouched(tmp_path):
    marker = tmp_path / "ran"
    recorded: list[ProcessIdentity] = []

    async def record(identity: ProcessIdentity) -> None:
        await trio.sleep(0.3)  # time enough for a program that was not held to have run
        assert not marker.exists()
        recorded.append(identity)

    process = await LocalExecutor(grace=1.0).start(marking(marker), before_exec=record)
    try:
        [identity] = recorded
        stat = read_stat(process.pid)
        assert stat is not None
        assert identity == ProcessIdentity(pgid=process.pid, start_time=stat.start_time, boot_id=boot_id())
        await process.send(b"first line\nno newline at the end")  # a program that reads its stdin to EOF
        await process.close_stdin()
        assert [line async for line in process.lines()] == ["first line", "no newline at the end"]
        assert await process.wait() == 0
        assert marker.exists()
    finally:
        await process.kill(grace=0.5)


@pytest.mark.parametrize("gated", [True, False])
async def test_input_given_at_the_start_reaches_the_program_whole_after_the_gate_s_line(tmp_path, gated):
    recorded: list[ProcessIdentity] = []

    async def record(identity: ProcessIdentity) -> None:
        recorded.append(identity)

    first = b"\n\nline after two empty ones\n"  # (empty lines are the program's, not the gate's)
    process = await LocalExecutor(grace=1.0).start(["cat"], before_exec=record if gated else None, input=first)
    try:
        assert len(recorded) == (1 if gated else 0)
        await process.send(b"and more")
        await process.close_stdin()
        assert [line async for line in process.lines()] == ["", "", "line after two empty ones", "and more"]
        assert await process.wait() == 0
    finally:
        await process.kill(grace=0.5)


@pytest.mark.parametrize("failure", ["raises", "is cancelled"])
async def test_a_recorder_that_fails_leaves_no_process_and_the_program_never_ran(tmp_path, failure):
    marker = tmp_path / "ran"
    pgids: list[int] = []

    async def record(identity: ProcessIdentity) -> None:
        pgids.append(identity.pgid)
        if failure == "raises":
            raise RuntimeError("the store is down")
        await trio.sleep_forever()

    expected = pytest.raises(RuntimeError, match="store is down") if failure == "raises" else contextlib.nullcontext()
    with trio.move_on_after(0.5), expected:
        await LocalExecutor(grace=1.0).start(marking(marker, "sleep 600"), before_exec=record)
    [pgid] = pgids
    assert is_dead(pgid) and observe_group(pgid).members == ()
    assert not marker.exists()


GATED_THEN_WAIT = """
import sys, trio
from orcha.io.local_executor import LocalExecutor

async def main():
    async def record(identity):
        print(identity.pgid, flush=True)
        await trio.sleep_forever()  # orcha dies here, before it lets the program run

    await LocalExecutor().start(sys.argv[1:], before_exec=record)

trio.run(main)
"""


async def test_a_gate_whose_orcha_dies_before_the_release_exits_without_running_the_program(tmp_path):
    marker = tmp_path / "ran"
    orcha = await trio.lowlevel.open_process(
        [sys.executable, "-c", GATED_THEN_WAIT, *marking(marker, "sleep 600")], stdout=subprocess.PIPE
    )
    pgid = 0
    try:
        assert orcha.stdout is not None
        with trio.fail_after(20):
            pgid = int((await orcha.stdout.receive_some(100)).decode())
        assert not is_dead(pgid)  # held at the gate
        os.kill(orcha.pid, signal.SIGKILL)
        await orcha.wait()
        await until(lambda: is_dead(pgid))  # it read end of file on its stdin and left
        assert not marker.exists() and observe_group(pgid).members == ()
    finally:
        orcha.kill()
        await orcha.wait()
        if pgid and observe_group(pgid).members:  # a failed test leaves nothing behind
            os.killpg(pgid, signal.SIGKILL)


async def test_a_missing_program_is_refused_before_anything_starts():
    recorded: list[ProcessIdentity] = []

    async def record(identity: ProcessIdentity) -> None:
        recorded.append(identity)

    with pytest.raises(CommandError, match="cannot run '/no/such/program': No such file or directory"):
        await LocalExecutor().start(["/no/such/program"], before_exec=record)
    with pytest.raises(CommandError, match="cannot run 'no-such-program-on-path'"):
        await LocalExecutor().start(["no-such-program-on-path"], before_exec=record)
    assert recorded == []


async def test_a_program_that_is_not_executable_is_refused_before_anything_starts(tmp_path):
    script = tmp_path / "not-executable"
    script.write_text("#!/bin/sh\necho hi\n")

    async def record(identity: ProcessIdentity) -> None:
        raise AssertionError("nothing should start")

    with pytest.raises(CommandError, match="Permission denied"):
        await LocalExecutor().start([str(script)], before_exec=record)
    with pytest.raises(CommandError, match="Permission denied"):
        await LocalExecutor().start(["./not-executable"], cwd=str(tmp_path), before_exec=record)
