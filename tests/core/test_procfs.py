"""Process identities from /proc: the start time after the command name's last parenthesis."""

from __future__ import annotations

import os

import pytest
import trio

from orcha.executor import CommandError
from orcha.io.local_executor import LocalExecutor
from orcha.procfs import BOOT_ID, read_identity, stat_start_time

FIELDS = " ".join(str(n) for n in range(3, 53))  # fields 3.. as their own numbers; field 3 is the state


def test_the_start_time_is_field_22_even_after_a_strange_command_name():
    assert stat_start_time(f"1234 (a) b (c)) {FIELDS}\n".replace(" 3 ", " S ", 1)) == 22
    assert stat_start_time(f"7 ({')' * 3}) {FIELDS}") == 22


@pytest.mark.parametrize("text", ["", "1234 bash S 1", "1 (x) S 1 2 3", f"1 (x) {FIELDS}".replace(" 22 ", " x ")])
def test_other_text_is_refused(text):
    with pytest.raises(ValueError, match="not a /proc"):
        stat_start_time(text)


async def test_a_live_process_is_identified_through_the_executor():
    identity = await read_identity(LocalExecutor(), os.getpid(), kind="tmux", tmux_session="orcha-x")
    stat = await trio.Path(f"/proc/{os.getpid()}/stat").read_text()
    assert identity.start_time == int(stat.rsplit(")", 1)[1].split()[19])
    assert identity.boot_id == (await trio.Path(BOOT_ID).read_text()).strip() and len(identity.boot_id) == 36
    assert (identity.pgid, identity.kind, identity.tmux_session) == (os.getpid(), "tmux", "orcha-x")


async def test_a_gone_process_is_a_command_error():
    with pytest.raises(CommandError):
        await read_identity(LocalExecutor(), 2**22 + 7, kind="headless")
