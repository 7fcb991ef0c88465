"""Who a process is, from /proc text alone: parsing its stat line, and "is this still the recorded group"."""

from __future__ import annotations

import os

import pytest

from orcha.processes import GroupObservation, ProcessIdentity, ProcStat, is_recorded_group, parse_stat

BOOT = "a7f0dda0-a692-4c31-9066-ec42593dde97"
TAIL = " ".join(["0"] * 20)


def stat_line(pid: int, comm: str, *, state: str = "S", pgid: int = 0, start: int = 0) -> str:
    fields = f"{state} 1 {pgid} {pgid} 0 -1 4194560 " + " ".join(["0"] * 12) + f" {start} 1000 200"
    return f"{pid} ({comm}) {fields}\n"


def test_a_stat_line_is_split_after_the_last_parenthesis():
    line = stat_line(4242, "evil) S 1 1 1 (name", state="R", pgid=4240, start=887015)
    assert parse_stat(line) == ProcStat(pid=4242, state="R", pgid=4240, start_time=887015)
    assert parse_stat(stat_line(7, "with spaces ( and ) parens", pgid=7, start=5)).start_time == 5


def test_this_process_s_own_stat_line_parses():
    with open("/proc/self/stat") as handle:
        stat = parse_stat(handle.read())
    assert stat.pid == os.getpid() and stat.pgid == os.getpgid(0) and stat.start_time > 0


@pytest.mark.parametrize("text", ["", "12 (x) S 1", "no parens at all " + TAIL])
def test_a_line_that_is_not_a_stat_line_is_refused(text):
    with pytest.raises(ValueError, match="not a /proc"):
        parse_stat(text)


RECORDED = ProcessIdentity(pgid=100, start_time=5000, boot_id=BOOT)


def member(pid: int, start: int) -> ProcStat:
    return ProcStat(pid=pid, state="S", pgid=100, start_time=start)


@pytest.mark.parametrize(
    ("seen", "ours"),
    [
        (GroupObservation(boot_id=BOOT, members=(member(100, 5000),)), True),
        (GroupObservation(boot_id=BOOT, members=(member(100, 5000), member(101, 5003))), True),
        # the leader gone, its children left: every one started after it
        (GroupObservation(boot_id=BOOT, members=(member(101, 5003), member(102, 5000))), True),
        (GroupObservation(boot_id=BOOT, members=()), False),  # gone
        (GroupObservation(boot_id=BOOT, members=(member(100, 7777),)), False),  # the pid reused
        (GroupObservation(boot_id=BOOT, members=(member(101, 4000),)), False),  # older than the recorded leader
        (GroupObservation(boot_id="another-boot", members=(member(100, 5000),)), False),
    ],
)
def test_the_recorded_group_is_known_by_boot_and_start_time(seen, ours):
    assert is_recorded_group(RECORDED, seen) is ours


def test_a_record_without_a_boot_id_never_matches():
    unverifiable = ProcessIdentity(pgid=100, start_time=5000)
    assert not is_recorded_group(unverifiable, GroupObservation(boot_id="", members=(member(100, 5000),)))
