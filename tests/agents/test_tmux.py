"""Real tmux: a shell session streams into the transcript, steering types into it, cancel kills it all; a
pane that outlives orcha is re-adopted from the byte offset the transcript consumed."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess

import attrs
import pytest
import trio

from orcha.agents.contract import ProviderSessionStarted, TextOut, TurnCompleted
from orcha.agents.tmux import TmuxController, TmuxProvider, clean, session_name
from orcha.ids import new_id
from orcha.io.local_executor import LocalExecutor
from tests.agents.conftest import request
from tests.procs import is_dead

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (scripts/test installs it)")

RESUMED = "You were restarted while you worked; carry on where you stopped."


@pytest.fixture(autouse=True)
def own_tmux_server(tmp_path_factory, monkeypatch):
    """A tmux server of the test's own (``TMUX_TMPDIR``), killed after it: no session shared with other runs."""
    monkeypatch.setenv("TMUX_TMPDIR", str(tmp_path_factory.mktemp("tmux")))
    monkeypatch.delenv("TMUX", raising=False)
    yield
    subprocess.run(["tmux", "kill-server"], capture_output=True, check=False)


async def _until_line(events, pattern: str, within: float = 10) -> list[str]:
    return [out.text for out in await _until_out(events, pattern, within)]


async def _until_out(events, pattern: str, within: float = 10) -> list[TextOut]:
    seen = []
    with trio.fail_after(within):
        async for event in events:
            if isinstance(event, TextOut):
                seen.append(event)
                if re.search(pattern, event.text):
                    return seen
    raise AssertionError(f"no line matched {pattern!r}: {[out.text for out in seen]}")


async def test_a_shell_session_streams_steers_snapshots_and_dies_whole(tmp_path):
    provider = TmuxProvider(log_dir=str(tmp_path / "logs"))
    req = request(tmp_path, "echo hello-$((40+2))", session_id="ses_tmux00000001")
    name = session_name(req.session_id)
    run = await provider.start(req)
    events = run.events()
    try:
        started = await events.__anext__()
        assert isinstance(started, ProviderSessionStarted)
        assert started.attach_command == f"tmux attach -t {name}"
        await _until_line(events, r"^hello-42$")

        await run.send("echo steered-$((1+1)); sleep 1000 & echo pid=$!")
        lines = await _until_line(events, r"^pid=\d+$")
        pid = int(lines[-1].split("=")[1])
        assert "steered-2" in lines
        assert "steered-2" in await run.snapshot()
        assert await TmuxController(LocalExecutor()).has_session(name)
    finally:
        await run.cancel()
    assert not await TmuxController(LocalExecutor()).has_session(name)
    await trio.sleep(0.2)
    assert is_dead(pid)


async def test_the_program_exiting_completes_the_turn(tmp_path):
    provider = TmuxProvider(program=("sh", "-c", "echo bye; exit 3"), log_dir=str(tmp_path / "logs"))
    run = await provider.start(request(tmp_path, "", session_id="ses_tmux00000002"))
    with trio.fail_after(10):
        events = [e async for e in run.events()]
    await run.cancel()
    assert any(isinstance(e, TextOut) and e.text == "bye" for e in events)
    assert events[-1].failed and "(3)" in events[-1].final_text


def test_terminal_escapes_are_cleaned():
    assert clean("\x1b[1;32mgreen\x1b[0m\r") == "green"
    assert clean("\x1b]0;title\x07prompt$ ls") == "prompt$ ls"


async def test_agent_tuis_in_tmux_get_the_same_mcp_flags_without_secrets_on_the_command_line(tmp_path):
    import os
    import shlex

    from orcha.agents.claude import ClaudeOptions, claude_tui_command
    from orcha.agents.codex import CodexOptions, codex_tui_command
    from orcha.model import SessionRole

    req = request(
        tmp_path,
        "p",
        role=SessionRole.MANAGER,
        mcp_url="http://127.0.0.1:9/mcp/ses_000000000001",
        mcp_token="tok-s3cret-123456",
    )
    claude = (await claude_tui_command(ClaudeOptions(config_dir=str(tmp_path / "mcp")), req)).argv
    assert "-p" not in claude and "stream-json" not in claude
    assert "--strict-mcp-config" in claude and "--allowedTools=mcp__orcha" in claude
    [config] = [a.split("=", 1)[1] for a in claude if a.startswith("--mcp-config=")]
    assert oct(os.stat(config).st_mode & 0o777) == "0o600"
    assert any(a.startswith("--append-system-prompt=You are the manager") for a in claude)
    codex = (await codex_tui_command(CodexOptions(config_dir=str(tmp_path / "mcp")), req)).argv
    joined = shlex.join(codex)
    assert "tok-s3cret-123456" not in joined and "tok-s3cret-123456" not in " ".join(claude)
    assert 'mcp_servers.orcha.url="http://127.0.0.1:9/mcp/ses_000000000001"' in joined
    assert "exec" in codex[-1] and "--json" not in joined


# --- offsets and re-adoption --------------------------------------------------------------------------


def _log(tmp_path, req) -> bytes:
    return (tmp_path / "logs" / f"{session_name(req.session_id)}.log").read_bytes()


async def _wait_for(condition, within: float = 10) -> None:
    with trio.fail_after(within):
        while not condition():  # noqa: ASYNC110 - polling a real pane log is the point
            await trio.sleep(0.02)


async def test_each_line_carries_the_exact_byte_offset_just_past_it(tmp_path):
    script = (
        r"printf 'plain\n'; printf 'bad-\377\376-end\n'; printf '\033[1m\033[0m\n'; printf 'crlf\r\n'; "
        r"""printf 'long-%s\n' "$(printf %05000d 7)"; printf 'nul-\000-x\n'; echo last"""
    )
    provider = TmuxProvider(program=("sh", "-c", script), log_dir=str(tmp_path / "logs"))
    req = request(tmp_path, "", session_id=new_id("session"))
    run = await provider.start(req)
    try:
        with trio.fail_after(10):
            events = [e async for e in run.events()]
    finally:
        await run.cancel()
    outs = [e for e in events if isinstance(e, TextOut)]
    assert [o.text for o in outs] == [
        "plain",
        "bad-\ufffd\ufffd-end",
        "crlf",
        "long-" + "0" * 4999 + "7",
        "nul--x",
        "last",
    ]
    assert isinstance(events[-1], TurnCompleted)
    log, previous = _log(tmp_path, req), 0
    for out in outs:  # the bytes up to each offset are whole lines: skipped ones that clean empties, then its own
        *skipped, own = log[previous : out.offset].removesuffix(b"\n").split(b"\n")
        assert clean(own.decode("utf-8", errors="replace")) == out.text
        assert all(clean(line.decode("utf-8", errors="replace")) == "" for line in skipped)
        previous = out.offset
    assert b"\x1b[1m\x1b[0m\r\n" in log[outs[1].offset : outs[2].offset]
    assert log[previous:].startswith(b"__orcha_exit__ 0")


async def test_a_readopted_pane_resumes_at_the_consumed_offset_without_gap_or_duplicate(tmp_path):
    provider = TmuxProvider(log_dir=str(tmp_path / "logs"))
    loop = "for i in $(seq 1 300); do echo line $i; sleep 0.005; done"
    req = request(tmp_path, loop, session_id=new_id("session"))
    first = await provider.start(req)
    seen = await _until_out(first.events(), r"^line 40$")
    await first.detach()  # orcha dies: nobody reads the pane, which goes on printing
    await _wait_for(lambda: b"line 150\r\n" in _log(tmp_path, req))

    resumed = attrs.evolve(req, resume_offset=seen[-1].offset)
    second = await provider.resume(resumed, session_name(req.session_id), RESUMED)
    try:
        events = second.events()
        assert isinstance(await events.__anext__(), ProviderSessionStarted)
        seen += await _until_out(events, r"^line 300$")
    finally:
        await second.cancel()
    numbers = [int(out.text.split()[1]) for out in seen if re.fullmatch(r"line \d+", out.text)]
    assert numbers == list(range(1, 301))
    assert not any("restarted" in out.text for out in seen)


async def test_a_readopted_plain_shell_gets_nothing_typed(tmp_path):
    provider = TmuxProvider(log_dir=str(tmp_path / "logs"))
    assert not provider.reads_input
    req = request(tmp_path, "echo ready-$((1+1))", session_id=new_id("session"))
    first = await provider.start(req)
    seen = await _until_out(first.events(), r"^ready-2$")
    await first.detach()
    second = await provider.resume(attrs.evolve(req, resume_offset=seen[-1].offset), "x", RESUMED)
    try:
        await second.send("echo after-$((2+1))")
        lines = await _until_line(second.events(), r"^after-3$")
        screen = await second.snapshot()
    finally:
        await second.cancel()
    assert not any("restarted" in line or "not found" in line for line in lines)
    assert "restarted" not in screen and "not found" not in screen


async def test_a_readopted_agent_tui_reads_the_resume_notice_once(tmp_path):
    async def tui(request):
        return ("sh", "-c", 'while IFS= read -r l; do echo "got: $l"; done')

    provider = TmuxProvider(command=tui, log_dir=str(tmp_path / "logs"))
    assert provider.reads_input
    req = request(tmp_path, "first", session_id=new_id("session"))
    first = await provider.start(req)
    seen = await _until_out(first.events(), r"^got: first$")
    await first.detach()
    second = await provider.resume(attrs.evolve(req, resume_offset=seen[-1].offset), "x", RESUMED)
    try:
        lines = await _until_line(second.events(), r"^got: You were restarted")
    finally:
        await second.cancel()
    assert lines[-1] == f"got: {RESUMED}"
    assert "got: first" not in lines


async def test_a_replaced_log_is_read_from_the_start_and_said_so(tmp_path):
    provider = TmuxProvider(log_dir=str(tmp_path / "logs"))
    req = request(tmp_path, "echo one-$((0+1))", session_id=new_id("session"))
    first = await provider.start(req)
    await _until_line(first.events(), r"^one-1$")
    await first.detach()
    second = await provider.resume(attrs.evolve(req, resume_offset=10**9), "x", RESUMED)
    try:
        outs = await _until_out(second.events(), r"^one-1$")
    finally:
        await second.cancel()
    assert "replaced" in outs[0].text and outs[0].offset == 0


async def test_a_log_deleted_while_orcha_was_down_is_piped_anew(tmp_path):
    provider = TmuxProvider(log_dir=str(tmp_path / "logs"))
    req = request(tmp_path, "echo one-$((0+1))", session_id=new_id("session"))
    first = await provider.start(req)
    seen = await _until_out(first.events(), r"^one-1$")
    await first.detach()
    (tmp_path / "logs" / f"{session_name(req.session_id)}.log").unlink()
    second = await provider.resume(attrs.evolve(req, resume_offset=seen[-1].offset), "x", RESUMED)
    try:
        await second.send("echo two-$((1+1))")
        outs = await _until_out(second.events(), r"^two-2$")
    finally:
        await second.cancel()
    assert "replaced" in outs[0].text and outs[0].offset == 0
    assert not any("one-1" in o.text for o in outs)


async def test_resuming_a_gone_session_starts_a_new_pane(tmp_path):
    provider = TmuxProvider(log_dir=str(tmp_path / "logs"))
    req = request(tmp_path, "echo old-$((0+1))", session_id=new_id("session"))
    first = await provider.start(req)
    await _until_line(first.events(), r"^old-1$")
    await first.cancel()
    second = await provider.resume(attrs.evolve(req, resume_offset=10**9), "x", RESUMED)
    try:
        await second.send("echo new-$((1+1))")
        outs = await _until_out(second.events(), r"^new-2$")
    finally:
        await second.cancel()
    assert not any("replaced" in o.text or "old-1" in o.text or "restarted" in o.text for o in outs)
    log = _log(tmp_path, req)
    assert b"old-1" not in log and log[outs[-1].offset - 1 : outs[-1].offset] == b"\n"


# --- the process record -------------------------------------------------------------------------------


async def test_the_pane_is_recorded_before_its_program_runs(tmp_path):
    marker = tmp_path / "ran"
    program = ("sh", "-c", f"touch {shlex.quote(str(marker))}; echo ran-now; sleep 1000")
    provider = TmuxProvider(program=program, log_dir=str(tmp_path / "logs"))
    recorded = []

    async def record(identity):
        recorded.append((identity, marker.exists()))

    req = request(tmp_path, "", session_id=new_id("session"), record_process=record)
    run = await provider.start(req)
    try:
        await _until_line(run.events(), r"^ran-now$")
        [pid] = await TmuxController(LocalExecutor()).pane_pids(session_name(req.session_id))
    finally:
        await run.cancel()
    [(identity, ran)] = recorded
    assert not ran and marker.exists()
    assert (identity.pgid, identity.kind, identity.tmux_session) == (pid, "tmux", session_name(req.session_id))
    assert identity.boot_id == (await trio.Path("/proc/sys/kernel/random/boot_id").read_text()).strip()
    assert identity.start_time > 0


async def test_a_failed_record_leaves_no_session_and_the_program_never_runs(tmp_path):
    marker = tmp_path / "ran"
    provider = TmuxProvider(program=("touch", str(marker)), log_dir=str(tmp_path / "logs"))

    async def record(identity):
        raise RuntimeError("the store is down")

    req = request(tmp_path, "", session_id=new_id("session"), record_process=record)
    with pytest.raises(RuntimeError, match="store is down"):
        await provider.start(req)
    assert not await TmuxController(LocalExecutor()).has_session(session_name(req.session_id))
    assert not marker.exists()
