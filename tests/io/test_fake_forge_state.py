"""The fake forge's pull requests live in the store: a new fake on the same database finds them."""

from __future__ import annotations

import pytest

from orcha.forge import FakeForge
from orcha.io.store import SCHEMA_VERSION, Store
from orcha.io.store._schema import MIGRATIONS
from orcha.io.store._transcripts import KINDS
from orcha.model import PRState, TranscriptKind, TranscriptLine
from tests.io.old_schema import database_at


async def test_a_fake_forge_on_the_store_round_trips_its_prs(store):
    forge = FakeForge(state=store)
    await forge.push(repo="r", branch="b")
    pr = await forge.open_pr(repo="r", branch="b", base="main", title="T", body="B")
    forge.add_feedback(pr.url, author="rev", body="nit", kind="changes_requested")
    await forge.comment(pr.url, "done")
    merged = forge.open_directly(repo="r", branch="other")
    forge.set_state(merged.url, PRState.MERGED)

    again = FakeForge(state=store)
    assert again.prs() == forge.prs()
    assert again.comments_on(pr.url) == ["done"]
    snapshot = await again.refresh_pr(pr.url)
    assert snapshot == await forge.refresh_pr(pr.url)
    assert [f.body for f in snapshot.feedback] == ["nit"]
    assert await again.find_open_pr(repo="r", branch="b") == pr

    sha = await again.push(repo="r", branch="b")  # a push after the restart moves the same PR's head
    assert sha != pr.head_sha
    assert (await again.refresh_pr(pr.url)).pr.head_sha == sha
    third = again.open_directly(repo="r", branch="third")
    assert third.number == 3  # numbering continues, never reusing a stored PR's url
    assert {p.url for p in FakeForge(state=store).prs()} == {pr.url, merged.url, third.url}


def test_without_a_state_the_fake_forge_keeps_nothing(store):
    FakeForge().open_directly(repo="r", branch="b")
    assert store.fake_forge_prs() == []


def test_the_store_keeps_one_record_per_url_in_first_saved_order(store):
    store.save_fake_forge_pr("u2", {"url": "u2", "n": 1})
    store.save_fake_forge_pr("u1", {"url": "u1", "n": 1})
    store.save_fake_forge_pr("u2", {"url": "u2", "n": 2})
    assert store.fake_forge_prs() == [{"url": "u2", "n": 2}, {"url": "u1", "n": 1}]


TRANSCRIPT_LINES = next(i for i, (name, _) in enumerate(MIGRATIONS) if name.startswith("transcript lines"))
"""Versions up to this one keep their transcript in the old ``transcript`` table."""


@pytest.mark.parametrize("version", range(1, TRANSCRIPT_LINES + 1))
def test_a_database_of_any_earlier_version_migrates_and_keeps_its_rows(db_path, version):
    conn = database_at(db_path, version)
    if version < 9:  # the versions that counted lines in a column
        conn.execute(
            "INSERT INTO sessions (id, objective_id, role, agent, prompt, status, mode, transcript_seq, created_at,"
            " updated_at) VALUES ('ses_1', 'obj_1', 'manager', 'fake', 'p', 'queued', 'interactive', ?, 0, 0)",
            (len(TranscriptKind),),
        )
    else:
        conn.execute(
            "INSERT INTO sessions (id, objective_id, role, agent, prompt, status, mode, created_at, updated_at)"
            " VALUES ('ses_1', 'obj_1', 'manager', 'fake', 'p', 'queued', 'interactive', 0, 0)"
        )
    every_kind = list(enumerate(TranscriptKind, start=1))
    if version < 8:  # a line of every kind, in the transcript table of those versions
        conn.executemany(
            "INSERT INTO transcript (session_id, seq, kind, body, ts) VALUES ('ses_1', ?, ?, ?, ?)",
            [(seq, str(kind), f"a {kind} line", float(seq)) for seq, kind in every_kind],
        )
    else:  # keyed by the session's number (its rowid, as migration 8 numbered them) and seq, kinds as codes
        conn.executemany(
            "INSERT INTO transcript_lines (key, kind, body, ts) VALUES ((SELECT rowid FROM sessions) * ? + ?, ?, ?, ?)",
            [(2**32, seq, KINDS.index(kind), f"a {kind} line", float(seq)) for seq, kind in every_kind],
        )
        conn.execute("UPDATE sessions SET num = rowid")
    conn.pragma("user_version", version)
    conn.close()
    with Store(db_path) as migrated:
        assert migrated.schema_version == SCHEMA_VERSION
        assert migrated.get_objective("obj_1").title == "kept"
        assert migrated.fake_forge_prs() == []
        migrated.save_fake_forge_pr("u", {"url": "u"})
        assert migrated.fake_forge_prs() == [{"url": "u"}]
        assert migrated.list_owned_processes() == []
        assert migrated.dashboard().objectives[0].id == "obj_1"
        lines = migrated.read_transcript("ses_1").items
        assert migrated.get_session("ses_1").transcript_seq == len(TranscriptKind)
        assert [(e.seq, e.kind, e.body, e.ts) for e in lines] == [
            (seq, kind, f"a {kind} line", float(seq)) for seq, kind in enumerate(TranscriptKind, start=1)
        ]
        later = migrated.create_session(objective_id="obj_1", agent="fake", prompt="w")
        migrated.append_transcript([TranscriptLine(session_id=later.id, kind=TranscriptKind.TEXT, body="new")])
        assert [e.body for e in migrated.read_transcript(later.id).items] == ["new"]
        assert len(migrated.read_transcript("ses_1").items) == len(TranscriptKind)


SESSION_NOW = next(i for i, (name, _) in enumerate(MIGRATIONS) if name.startswith("what a session was asked"))
"""Versions up to this one have no session task (that migration derives it from the prompt)."""


@pytest.mark.parametrize("version", range(TRANSCRIPT_LINES + 1, SESSION_NOW + 1))
def test_a_database_of_a_later_version_migrates_and_keeps_its_targets(db_path, version):
    conn = database_at(db_path, version)
    conn.execute(
        "INSERT INTO targets (id, name, kind, host, work_root, capacity_sessions, status, created_at, updated_at)"
        " VALUES ('tgt_1', 'box', 'ssh', 'example.org', '/w', 2, 'online', 0, 0)"
    )
    conn.execute(
        "INSERT INTO sessions (id, objective_id, role, agent, prompt, status, mode, created_at, updated_at, num)"
        " VALUES ('ses_1', 'obj_1', 'manager', 'fake', 'Plan it\nwell', 'queued', 'interactive', 0, 0, 1)"
    )
    conn.pragma("user_version", version)
    conn.close()
    with Store(db_path) as migrated:
        assert migrated.schema_version == SCHEMA_VERSION
        target = migrated.get_target("tgt_1")
        assert target.host == "example.org" and target.status_reason is None and target.host_key is None
        assert migrated.record_target_host_key("tgt_1", "SHA256:x").host_key == "SHA256:x"
        session = migrated.get_session("ses_1")  # the fields of migration 12, empty until it runs and prints
        assert (session.task, session.now, session.last_output_at, session.started_at, session.ended_at) == (
            "Plan it",
            None,
            None,
            None,
            None,
        )
        migrated.append_transcript([TranscriptLine(session_id="ses_1", kind=TranscriptKind.TEXT, body="hi", ts=1.0)])
        assert migrated.dashboard().sessions[0].now == "hi"
        assert migrated.objective_timeline("obj_1").cost == ()


def test_a_database_before_the_waiting_queue_index_migrates_and_pages_its_queue(db_path):
    version = SESSION_NOW + 1
    conn = database_at(db_path, version)
    for n in range(5):  # inserted youngest first: the queue's order is its age, not its rowid
        conn.execute(
            "INSERT INTO sessions (id, objective_id, role, agent, prompt, status, mode, created_at, updated_at, num)"
            " VALUES (?, 'obj_1', 'worker', 'fake', 'w', 'waiting_capacity', 'interactive', ?, 0, ?)",
            (f"ses_{n}", 10.0 - n, n + 1),
        )
    conn.pragma("user_version", version)
    conn.close()
    with Store(db_path) as migrated:
        assert migrated.schema_version == SCHEMA_VERSION
        columns = [r[2] for r in migrated.database.conn.execute("PRAGMA index_info(sessions_by_role_status)")]
        assert columns == ["role", "status", "created_at"]
        view = migrated.scheduling_view(waiting_workers=2)
        assert [s.id for s in view.runnable] == ["ses_4", "ses_3"] and view.left_out_after == 2
        assert [s.id for s in migrated.scheduling_view().runnable] == ["ses_4", "ses_3", "ses_2", "ses_1", "ses_0"]
