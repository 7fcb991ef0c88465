"""`orcha targets doctor` shows each check as the server's doctor finishes it, not all at the end."""

from __future__ import annotations

import subprocess

import trio

from orcha.doctor import Check, CheckSink, DoctorReport, no_progress
from orcha.model import Target
from tests.cli.served_cli import PYTHON, clean_env
from tests.web.harness import served

TOKEN = "a-test-token-of-enough-length"


class HeldDoctor:
    """Passes at once, unless held: then it tells of its first check and waits for the test before the second."""

    def __init__(self) -> None:
        self.held = False
        self.go_on = trio.Event()

    async def __call__(self, target: Target, /, *, on_check: CheckSink = no_progress) -> DoctorReport:
        checks = [Check(name="work_root", ok=True, detail="mine"), Check(name="tmux", ok=not self.held, detail="x")]
        await on_check(checks[0])
        if self.held:
            await self.go_on.wait()
        await on_check(checks[1])
        return DoctorReport(checks=tuple(checks))


async def _read_line(stream: trio.abc.ReceiveStream, buffer: bytearray) -> bytes:
    with trio.fail_after(30):
        while b"\n" not in buffer:
            chunk = await stream.receive_some()
            assert chunk, f"the command ended before printing a line: {bytes(buffer)!r}"
            buffer += chunk
    line, _, rest = bytes(buffer).partition(b"\n")
    buffer[:] = rest
    return line


async def test_targets_doctor_prints_each_check_while_the_doctor_still_runs(tmp_path):
    doctor = HeldDoctor()
    async with served(tmp_path, doctor=doctor, token=TOKEN) as web:
        env = clean_env(str(tmp_path), ORCHA_URL=web.url, ORCHA_TOKEN=TOKEN)
        doctor.held = True
        process = await trio.lowlevel.open_process(
            [*PYTHON, "targets", "doctor", "local"], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env
        )
        assert process.stdout is not None
        buffer = bytearray()
        try:
            first = await _read_line(process.stdout, buffer)
            assert first.decode() == "✓ work_root    mine"
            assert process.poll() is None and not doctor.go_on.is_set()  # printed while the doctor still ran
            doctor.go_on.set()
            with trio.fail_after(30):
                while chunk := await process.stdout.receive_some():
                    buffer += chunk
                code = await process.wait()
        finally:
            if process.poll() is None:
                process.kill()
                await process.wait()
            await process.stdout.aclose()
        assert code == 1  # the doctor failed: exit status 1
        assert buffer.decode().splitlines() == ["✗ tmux         x", "local: offline (doctor failed: tmux: x)"]


async def test_two_doctors_at_once_both_finish_with_their_own_report(tmp_path):
    doctor = HeldDoctor()
    async with served(tmp_path, doctor=doctor, token=TOKEN) as web:
        env = clean_env(str(tmp_path), ORCHA_URL=web.url, ORCHA_TOKEN=TOKEN)
        doctor.held = True
        run = [*PYTHON, "targets", "doctor", "local"]
        results = []
        start = web.store.latest_event_id()

        async def one() -> None:
            results.append(await trio.run_process(run, capture_stdout=True, capture_stderr=True, env=env, check=False))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(one)
            nursery.start_soon(one)
            with trio.fail_after(30):  # the first doctor is held, past its first check
                while not any(e.kind == "target_doctor_check" for e in web.store.events_after(start)):  # noqa: ASYNC110
                    await trio.sleep(0.05)
            doctor.go_on.set()
        for done in results:  # the target actor ran one doctor, then the other: each caller got a report
            assert done.returncode == 1, done.stderr
            lines = done.stdout.decode().splitlines()
            assert lines[-1] == "local: offline (doctor failed: tmux: x)"
            assert "✗ tmux         x" in lines and not done.stderr
