"""The pane-log framing: any bytes, read back exactly, each line with the offset just past it."""

from __future__ import annotations

import pytest
import trio

from orcha.agents.pane_log import LIST_SCRIPT, PaneLines, log_size, reader_argv, unlist
from orcha.io.local_executor import LocalExecutor

EVERY_BYTE = bytes(b for b in range(256) if b != 0x0A)


def test_unlist_reads_seds_escapes_back():
    assert unlist(r"a\\b\t\r\000\377\033[0m") == b"a\\b\t\r\x00\xff\x1b[0m"
    assert unlist("$x$") == b"$x$"


def test_pane_lines_count_complete_lines_only():
    lines = PaneLines(10)
    assert lines.feed(r"ab\r$") is None
    assert lines.feed("") == b"ab\r" and lines.offset == 14
    assert lines.feed("$") is None
    assert lines.feed("") == b"" and lines.offset == 15
    assert lines.feed("prompt$ $") is None  # sed flushed a partial line at the end of its input
    assert lines.offset == 15


async def test_every_byte_survives_sed_and_the_executor():
    data = EVERY_BYTE + b"\n" + b"crlf\r\r\n" + b"\n" + b"$x\\$\n" + b"prompt$ "
    result = await LocalExecutor().run(["env", "LC_ALL=C", "sed", "-u", "-n", LIST_SCRIPT], input=data)
    lines = PaneLines()
    got = [line for out in result.check().stdout.split("\n")[:-1] if (line := lines.feed(out)) is not None]
    assert got == [EVERY_BYTE, b"crlf\r\r", b"", b"$x\\$"]
    assert lines.offset == len(data) - len(b"prompt$ ")


async def test_the_reader_starts_at_an_offset_and_follows_a_quoted_path(tmp_path):
    log = tmp_path / "it's a $log"
    log.write_bytes(b"one\r\ntwo\xff\r\n")
    executor = LocalExecutor(grace=1.0)
    assert await log_size(executor, str(log)) == 11
    assert await log_size(executor, str(tmp_path / "gone")) is None
    reader = await executor.start(reader_argv(str(log), 5))
    try:
        outs = reader.lines()
        lines = PaneLines(5)

        async def next_line() -> bytes:
            while (line := lines.feed(await anext(outs))) is None:
                pass
            return line

        with trio.fail_after(10):
            assert await next_line() == b"two\xff\r" and lines.offset == 11
            with log.open("ab") as handle:
                handle.write(b"three\n")
            assert await next_line() == b"three" and lines.offset == 17
    finally:
        await reader.kill(grace=1.0)


def test_an_offset_is_a_byte_count():
    with pytest.raises(ValueError, match="byte count"):
        reader_argv("log", -1)
