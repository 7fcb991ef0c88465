"""Process identities from /proc: the start time after the command name's last parenthesis."""

from __future__ import annotations

import os

import pytest
import trio

from orcha.executor import CommandError
from orcha.io.local_executor import LocalExecutor
from orcha.procfs import BOOT_ID, read_identity


async def test_a_live_process_is_identified_through_the_executor():
    identity = await read_identity(LocalExecutor(), os.getpid(), kind="tmux", tmux_session="orcha-x")
    stat = await trio.Path(f"/proc/{os.getpid()}/stat").read_text()
    assert identity.start_time == int(stat.rsplit(")", 1)[1].split()[19])
    assert identity.boot_id == (await trio.Path(BOOT_ID).read_text()).strip() and len(identity.boot_id) == 36
    assert (identity.pgid, identity.kind, identity.tmux_session) == (os.getpid(), "tmux", "orcha-x")


async def test_a_gone_process_is_a_command_error():
    with pytest.raises(CommandError):
        await read_identity(LocalExecutor(), 2**22 + 7, kind="headless")
