"""Who a process is, from /proc text alone: parsing its stat line, "is this still the recorded group", and the
marks an agent carries in its environment."""

from __future__ import annotations

import os

import pytest

from orcha.processes import (
    MARK_VARIABLE,
    SESSION_VARIABLE,
    GroupObservation,
    MarkedProcess,
    ProcessIdentity,
    ProcStat,
    database_mark,
    is_recorded_group,
    mark_env,
    marked_session,
    parse_stat,
    plan_marked,
)

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


# --- marked processes ----------------------------------------------------------------------------------

MARK = "/home/u/.local/share/orcha/orcha.db"


def environ(*entries: str) -> bytes:
    return b"".join(entry.encode() + b"\0" for entry in entries)


def test_a_mark_is_one_whole_entry_of_the_environment_and_names_its_session():
    assert marked_session(environ("PATH=/bin", f"{MARK_VARIABLE}={MARK}", f"{SESSION_VARIABLE}=ses_1"), MARK) == "ses_1"
    assert marked_session(environ(f"{MARK_VARIABLE}={MARK}"), MARK) == ""  # marked, no session named
    assert marked_session(environ(f"{MARK_VARIABLE}={MARK}.old", f"{SESSION_VARIABLE}=ses_1"), MARK) is None
    assert marked_session(environ(f"X_{MARK_VARIABLE}={MARK}", f"{SESSION_VARIABLE}=ses_1"), MARK) is None
    assert marked_session(environ(f"OTHER={MARK_VARIABLE}={MARK}"), MARK) is None  # inside another's value
    assert marked_session(b"", MARK) is None
    assert database_mark("rel/orcha.db") == os.path.abspath("rel/orcha.db")
    assert mark_env(MARK) == {MARK_VARIABLE: MARK}


def marked(pid: int, pgid: int, start: int, session_id: str = "ses_1", state: str = "S") -> MarkedProcess:
    return MarkedProcess(stat=ProcStat(pid=pid, state=state, pgid=pgid, start_time=start), session_id=session_id)


def test_the_groups_of_unfinished_or_unnamed_sessions_are_stopped_and_an_ended_session_s_left_alone():
    found = [
        marked(10, 10, 500),  # an agent (its group's leader) and its child
        marked(11, 10, 510),
        marked(20, 20, 600, session_id="ses_done"),  # detached on purpose by a session that ended
        marked(30, 30, 700, session_id=""),  # names no session: stopped, to be safe
        marked(40, 40, 800, state="Z"),  # a zombie: nothing to stop
        marked(50, 7, 900),  # in this orcha's own group (started by an earlier orcha's agent): never
    ]
    groups = plan_marked(found, boot_id=BOOT, ended={"ses_done"}, own_pgid=7)
    assert [(g.identity, g.session_ids) for g in groups] == [
        (ProcessIdentity(pgid=10, start_time=500, boot_id=BOOT), ("ses_1",)),
        (ProcessIdentity(pgid=30, start_time=700, boot_id=BOOT), ("",)),
    ]


def test_a_group_whose_leader_is_gone_is_known_by_its_eldest_marked_member():
    [group] = plan_marked([marked(12, 10, 530), marked(11, 10, 520)], boot_id=BOOT, ended=set(), own_pgid=1)
    assert group.identity == ProcessIdentity(pgid=10, start_time=520, boot_id=BOOT)
    seen = GroupObservation(boot_id=BOOT, members=(ProcStat(pid=11, state="S", pgid=10, start_time=520),))
    assert is_recorded_group(group.identity, seen)  # what the kill checks before each signal
    assert plan_marked([], boot_id=BOOT, ended=set(), own_pgid=1) == []
