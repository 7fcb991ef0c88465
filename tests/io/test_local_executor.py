"""The local executor: streamed lines, exit status, input, clear start errors, and tree-wide cancellation."""

from __future__ import annotations

import pytest
import trio

from orcha.errors import ExternalCallInTransactionError
from orcha.executor import CommandError
from orcha.io.local_executor import LocalExecutor
from orcha.io.store._db import Database
from tests.procs import process_state as _state


async def test_lines_stream_as_they_arrive_and_the_exit_status_is_kept():
    seen: list[tuple[str, str]] = []
    result = await LocalExecutor().run(
        ["sh", "-c", "echo one; echo two >&2; printf three; exit 7"],
        on_line=lambda stream, line: seen.append((stream, line)),
    )
    assert result.exit_code == 7 and not result.ok
    assert result.stdout == "one\nthree\n" and result.stderr == "two\n"
    assert sorted(seen) == [("stderr", "two"), ("stdout", "one"), ("stdout", "three")]
    with pytest.raises(CommandError, match="exited 7"):
        result.check()


async def test_input_cwd_and_env_reach_the_command(tmp_path):
    result = await LocalExecutor().run(
        ["sh", "-c", 'cat; pwd; echo "$ORCHA_TEST_VAR"'],
        input=b"piped\n",
        cwd=str(tmp_path),
        env={"ORCHA_TEST_VAR": "set"},
    )
    assert result.stdout.splitlines() == ["piped", str(tmp_path), "set"]


async def test_a_missing_program_is_a_clear_error():
    with pytest.raises(CommandError, match="cannot run '/no/such/program'"):
        await LocalExecutor().run(["/no/such/program"])


async def test_cancel_kills_the_whole_process_tree():
    pids: list[int] = []
    script = "sleep 600 & echo $!; (sleep 600; echo never) & echo $!; sh -c 'sleep 600' & echo $!; wait"
    with trio.move_on_after(2) as scope:
        await LocalExecutor(grace=1.0).run(
            ["sh", "-c", script], on_line=lambda stream, line: line.isdigit() and pids.append(int(line))
        )
    assert scope.cancelled_caught
    assert len(pids) == 3
    await trio.sleep(0.2)
    assert {_state(pid) for pid in pids} <= {"Z", "gone"}


async def test_a_command_that_ignores_sigterm_is_killed_after_the_grace_period():
    pids: list[int] = []
    started = trio.current_time()
    with trio.move_on_after(1):
        await LocalExecutor(grace=0.5).run(
            ["sh", "-c", "trap '' TERM; echo $$; while true; do sleep 0.1; done"],
            on_line=lambda stream, line: line.isdigit() and pids.append(int(line)),
        )
    assert trio.current_time() - started < 5
    await trio.sleep(0.1)
    assert _state(pids[0]) in ("Z", "gone")


async def test_no_command_runs_inside_a_transaction(tmp_path):
    db = Database(tmp_path / "x.db")
    with pytest.raises(ExternalCallInTransactionError), db.write():
        await LocalExecutor().run(["true"])
    db.close()
