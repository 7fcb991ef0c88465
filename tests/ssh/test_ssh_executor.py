"""The SSH executor against a real sshd: run, stream, cancel the remote group, host keys, hostile words."""

from __future__ import annotations

import pytest
import trio

from orcha.executor import CommandError
from orcha.io.ssh_executor import HostKeyError, SSHExecutor, SSHSpec
from tests.ssh.conftest import Sshd, drop_connections


def spec_of(server: Sshd, **changes) -> SSHSpec:
    fields = {
        "name": "box", "host": server.host, "user": server.user, "port": server.port,
        "identity_file": server.identity, "known_hosts": server.known_hosts,
    }  # fmt: skip
    return SSHSpec(**{**fields, **changes})


@pytest.fixture
async def ssh(aio_loop, sshd):
    executor = SSHExecutor(spec_of(sshd), grace=1.0, backoff=(0.05, 0.2))
    try:
        yield executor
    finally:
        await executor.aclose()


async def test_run_collects_output_exit_code_cwd_env_and_input(ssh, tmp_path):
    result = await ssh.run(["sh", "-c", 'pwd; echo "$GREETING"; cat; echo oops >&2; exit 3'], cwd=str(tmp_path),
                           env={"GREETING": "hello there"}, input=b"from stdin\n")  # fmt: skip
    assert result.exit_code == 3
    assert result.stdout == f"{tmp_path}\nhello there\nfrom stdin\n"
    assert result.stderr == "oops\n"
    assert (await ssh.run(["true"])).ok


async def test_secrets_in_env_never_reach_a_command_line(ssh, sshd):
    result = await ssh.run(
        ["sh", "-c", 'ps -A -o args= | grep -c "[s]ecret-value-42"; echo "$TOKEN"'], env={"TOKEN": "secret-value-42"}
    )
    assert result.stdout.splitlines() == ["0", "secret-value-42"]


async def test_output_streams_line_by_line_as_it_is_printed(ssh):
    seen: list[tuple[float, str]] = []
    start = trio.current_time()

    def on_line(stream: str, line: str) -> None:
        seen.append((trio.current_time() - start, line))

    await ssh.run(["sh", "-c", "echo one; sleep 0.4; echo two; sleep 0.4; echo three"], on_line=on_line)
    assert [line for _, line in seen] == ["one", "two", "three"]
    assert seen[1][0] - seen[0][0] > 0.3 and seen[2][0] - seen[1][0] > 0.3


async def test_cancel_stops_the_whole_remote_group_checked_over_ssh(ssh, sshd):
    marker = "orcha-cancel-marker"
    with trio.move_on_after(1.0):
        await ssh.run(["sh", "-c", f"sleep 1000 & sleep 1001 & echo {marker}; wait"])
    left = sshd.sh("ps -A -o args= | grep -c '[s]leep 100[01]' || true")
    assert left.stdout.strip() == "0", left.stdout


async def test_a_started_command_streams_takes_input_and_is_killed_with_its_group(ssh, sshd):
    recorded = []

    async def record(identity):
        recorded.append(identity)

    running = await ssh.start(["sh", "-c", "sleep 1002 & while read -r line; do echo got $line; done"],
                              before_exec=record, input=b"\nfirst\n")  # fmt: skip
    assert recorded and recorded[0].pgid == running.pgid and recorded[0].boot_id
    lines = running.lines()
    assert [await anext(lines), await anext(lines)] == ["got", "got first"]  # the input, after the gate's line
    await running.send(b"hello\n")
    assert await anext(lines) == "got hello"
    assert await ssh.group_members(running.pgid)
    await running.kill(grace=0.5)
    assert await ssh.group_members(running.pgid) == []
    assert sshd.sh("ps -A -o args= | grep -c '[s]leep 1002' || true").stdout.strip() == "0"


async def test_hostile_words_run_nothing_extra(ssh, tmp_path):
    hostile = ["a b", "it's", 'say "hi"', "x; touch PWNED", "$(touch PWNED)", "`touch PWNED`", "l1\nl2", "-rf", "--"]
    folder = tmp_path / "we ird; $(touch PWNED) 'dir'"
    folder.mkdir()
    result = await ssh.run(["printf", "%s|", *hostile], cwd=str(folder), env={"V": "$(touch PWNED); `x`"})
    assert result.stdout == "|".join(hostile) + "|\n"  # the collector ends the last line
    echoed = await ssh.run(["sh", "-c", 'printf %s "$V"'], cwd=str(folder), env={"V": "$(touch PWNED); `x`"})
    assert echoed.stdout == "$(touch PWNED); `x`\n"
    assert not list(tmp_path.rglob("PWNED")) and not (tmp_path.parent / "PWNED").exists()
    with pytest.raises(CommandError):
        await ssh.run(["true"], env={"BAD NAME": "x"})


async def test_a_changed_host_key_is_refused_even_with_trust_on_first_use(aio_loop, sshd, tmp_path):
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{sshd.port} {sshd.other_key}\n")
    executor = SSHExecutor(spec_of(sshd, known_hosts=str(known)), backoff=())
    try:
        for trust in (False, True):
            with pytest.raises(HostKeyError, match="CHANGED"):
                await executor.check_host(trust_on_first_use=trust)
    finally:
        await executor.aclose()


async def test_an_unknown_host_is_refused_unless_trusted_on_first_use_which_records_it(aio_loop, sshd, tmp_path):
    known = tmp_path / "ssh" / "known_hosts"
    executor = SSHExecutor(spec_of(sshd, known_hosts=str(known)), backoff=())
    try:
        with pytest.raises(HostKeyError, match="not known"):
            await executor.check_host()
        fingerprint = await executor.check_host(trust_on_first_use=True)
        assert fingerprint.startswith("SHA256:")
        assert known.read_text().split()[1:] == sshd.host_key_line.split()[1:]
        assert oct(known.stat().st_mode & 0o777) == "0o600"
    finally:
        await executor.aclose()
    again = SSHExecutor(spec_of(sshd, known_hosts=str(known)), backoff=())
    try:
        assert await again.check_host() == fingerprint  # now verified strictly against the recorded key
    finally:
        await again.aclose()


async def test_a_dropped_connection_is_reopened(ssh, sshd):
    assert (await ssh.run(["echo", "before"])).stdout == "before\n"
    drop_connections(sshd)
    await trio.sleep(0.2)
    assert (await ssh.run(["echo", "after"])).stdout == "after\n"


async def test_private_files_and_folders(ssh, tmp_path):
    folder = tmp_path / "priv" / "deeper"
    await ssh.make_private_dir(str(folder))
    assert oct(folder.stat().st_mode & 0o777) == "0o700"
    await ssh.write_private_file(str(folder / "secret"), b"s3cret")
    assert (folder / "secret").read_bytes() == b"s3cret"
    assert oct((folder / "secret").stat().st_mode & 0o777) == "0o600"
    with pytest.raises(CommandError):
        await ssh.write_private_file(str(folder / "secret"), b"again")
    (folder / "link").symlink_to(tmp_path / "target")
    with pytest.raises(CommandError):
        await ssh.write_private_file(str(folder / "link"), b"through")
    assert not (tmp_path / "target").exists()
    await ssh.remove_file(str(folder / "secret"))
    assert not (folder / "secret").exists()
