"""Transcripts: group-committed appends, cursor pages, and a dashboard that never reads them."""

from __future__ import annotations

import json

import apsw
import cattrs
import pytest

from orcha import oneline
from orcha.errors import InvalidInputError, NotFoundError, StoreError
from orcha.io.store import Store
from orcha.model import SessionStatus, TranscriptKind, TranscriptLine
from tests.conftest import make_target

LINES = 100_000
BATCH = 1_000


def _fill(store, session_id: str, count: int, batch: int = BATCH) -> None:
    for start in range(0, count, batch):
        store.append_transcript(
            [
                TranscriptLine(session_id=session_id, kind=TranscriptKind.TEXT, body=f"line {n} " + "x" * 40)
                for n in range(start + 1, min(start + batch, count) + 1)
            ]
        )


def test_pagination_over_100k_lines_returns_every_line_once_in_order(store):
    _, manager = store.create_objective(title="t", prompt="p", agent="fake")
    _fill(store, manager.id, LINES)
    seen: list[int] = []
    after = 0
    while True:
        page = store.read_transcript(manager.id, after=after, limit=1000)
        if not page.items:
            assert page.next_after == after
            break
        seen.extend(entry.seq for entry in page.items)
        assert all(entry.body.startswith(f"line {entry.seq} ") for entry in page.items)
        after = page.next_after
    assert seen == list(range(1, LINES + 1))
    assert store.get_session(manager.id).transcript_seq == LINES


def test_a_batch_of_many_sessions_lines_is_one_transaction_with_gapless_seqs(store):
    objective, manager = store.create_objective(title="t", prompt="p", agent="fake")
    worker = store.create_session(objective_id=objective.id, agent="fake", prompt="w")
    commits = []
    store.connection.set_commit_hook(lambda: commits.append(1) or False)
    entries = store.append_transcript(
        [
            TranscriptLine(session_id=sid, kind=TranscriptKind.TEXT, body=str(n))
            for n, sid in enumerate([manager.id, worker.id, manager.id, manager.id, worker.id])
        ]
    )
    assert len(commits) == 1
    assert [(e.session_id == manager.id, e.seq) for e in entries] == [
        (True, 1),
        (False, 1),
        (True, 2),
        (True, 3),
        (False, 2),
    ]


def test_a_batch_naming_an_unknown_session_writes_nothing(store):
    _, manager = store.create_objective(title="t", prompt="p", agent="fake")
    with pytest.raises(NotFoundError):
        store.append_transcript(
            [
                TranscriptLine(session_id=manager.id, kind=TranscriptKind.TEXT, body="kept?"),
                TranscriptLine(session_id="ses_nobody", kind=TranscriptKind.TEXT, body="x"),
            ]
        )
    assert store.read_transcript(manager.id).items == ()


def _text(session_id: str, body: str) -> TranscriptLine:
    return TranscriptLine(session_id=session_id, kind=TranscriptKind.TEXT, body=body)


def _stored_seqs(store, session_id: str) -> list[int]:
    return [entry.seq for entry in store.read_transcript(session_id, limit=1000).items]


def _tail_reads(store, append, needles=("SELECT num FROM sessions", "ORDER BY key DESC")) -> int:
    """How many statements ``append()`` ran that read a session's number or its last line (``needles``)."""
    statements: list[str] = []
    store.connection.set_exec_trace(lambda cursor, sql, bindings: statements.append(sql) or True)
    try:
        append()
    finally:
        store.connection.set_exec_trace(None)
    return sum(any(needle in sql for needle in needles) for sql in statements)


def test_interleaved_sessions_keep_gapless_seqs_and_their_tails_are_read_once(store):
    objective, manager = store.create_objective(title="t", prompt="p", agent="fake")
    worker = store.create_session(objective_id=objective.id, agent="fake", prompt="w")
    order = [manager.id, worker.id, worker.id, manager.id, worker.id]
    assert _tail_reads(store, lambda: store.append_transcript([_text(sid, "a") for sid in order])) == 4  # 2 each
    for _ in range(3):  # what the store committed itself it knows: no read of a session's number or last line
        assert _tail_reads(store, lambda: store.append_transcript([_text(sid, "b") for sid in order])) == 0
    assert _stored_seqs(store, manager.id) == list(range(1, 9))
    assert _stored_seqs(store, worker.id) == list(range(1, 13))


def test_a_session_this_store_created_has_its_tail_known_and_another_writer_makes_it_read(db_path):
    with Store(db_path) as store, Store(db_path) as other:
        objective, manager = store.create_objective(title="t", prompt="p", agent="fake")
        store.append_transcript([_text(manager.id, "m")])  # (the store's first look at the database reads)
        worker = store.create_session(objective_id=objective.id, agent="fake", prompt="w")
        assert _tail_reads(store, lambda: store.append_transcript([_text(worker.id, "1")])) == 0
        summarized = lambda: store.append_transcript([], summarize={worker.id})  # noqa: E731 - (its lines, not its number)
        assert _tail_reads(store, summarized, needles=("SELECT num FROM sessions",)) == 0
        late = store.create_session(objective_id=objective.id, agent="fake", prompt="w")
        other.append_transcript([_text(late.id, "by another"), _text(worker.id, "2")])
        assert _tail_reads(store, lambda: store.append_transcript([_text(late.id, "x"), _text(worker.id, "3")])) == 4
        assert [e.body for e in store.read_transcript(late.id).items] == ["by another", "x"]
        assert _stored_seqs(store, worker.id) == [1, 2, 3]


def test_a_rolled_back_append_does_not_advance_the_seqs(store):
    _, manager = store.create_objective(title="t", prompt="p", agent="fake")
    store.append_transcript([_text(manager.id, "1"), _text(manager.id, "2")])
    store.connection.set_commit_hook(lambda: True)  # the commit fails: the transaction is rolled back
    try:
        with pytest.raises(StoreError):
            store.append_transcript([_text(manager.id, "lost"), _text(manager.id, "lost")])
    finally:
        store.connection.set_commit_hook(None)
    with pytest.raises(NotFoundError):  # a batch refused before its commit leaves the seqs too
        store.append_transcript([_text(manager.id, "lost"), _text("ses_nobody", "x")])
    assert [e.seq for e in store.append_transcript([_text(manager.id, "3")])] == [3]
    assert [e.body for e in store.read_transcript(manager.id).items] == ["1", "2", "3"]


def test_a_restarted_store_reads_the_seqs_from_the_database(db_path):
    with Store(db_path) as first:
        _, manager = first.create_objective(title="t", prompt="p", agent="fake")
        first.append_transcript([_text(manager.id, str(n)) for n in range(1, 6)])
    with Store(db_path) as second:
        assert [e.seq for e in second.append_transcript([_text(manager.id, "6")])] == [6]
        assert _stored_seqs(second, manager.id) == list(range(1, 7))


def test_lines_another_connection_committed_are_read_not_guessed_past(db_path):
    with Store(db_path) as first, Store(db_path) as other:
        _, manager = first.create_objective(title="t", prompt="p", agent="fake")
        first.append_transcript([_text(manager.id, "1")])
        other.append_transcript([_text(manager.id, "2"), _text(manager.id, "3")])
        assert [e.seq for e in first.append_transcript([_text(manager.id, "4")])] == [4]
        assert [e.seq for e in other.append_transcript([_text(manager.id, "5")])] == [5]
        assert [e.body for e in first.read_transcript(manager.id).items] == ["1", "2", "3", "4", "5"]


def test_transcript_bodies_are_redacted_before_they_are_stored(store):
    _, manager = store.create_objective(title="t", prompt="p", agent="fake")
    store.append_transcript(
        [
            TranscriptLine(
                session_id=manager.id,
                kind=TranscriptKind.TOOL_RESULT,
                body="export ANTHROPIC_API_KEY=sk-ant-api03-0123456789abcdefghij",
            )
        ]
    )
    raw = [row[0] for row in store.connection.execute("SELECT body FROM transcript_lines")]
    assert raw and all("0123456789abcdefghij" not in body for body in raw)


@pytest.mark.parametrize(("after", "limit", "field"), [(-1, 10, "after"), (0, 0, "limit"), (0, 1001, "limit")])
def test_bad_page_arguments_are_refused(store, after, limit, field):
    _, manager = store.create_objective(title="t", prompt="p", agent="fake")
    with pytest.raises(InvalidInputError) as info:
        store.read_transcript(manager.id, after=after, limit=limit)
    assert info.value.field == field


def _dashboard_json(store) -> bytes:
    return json.dumps(cattrs.Converter().unstructure(store.dashboard())).encode()


def test_the_dashboard_stays_small_and_never_reads_transcript_content(store):
    target = make_target(store)
    objective, manager = store.create_objective(title="Port subsystem to Rust", prompt="p", agent="claude")
    store.claim_target_slot(target.id, manager.id)
    store.update_session_status(manager.id, SessionStatus.STARTING)
    store.ask_question(objective_id=objective.id, asked_by=manager.id, text="Which crate?")
    size_before = len(_dashboard_json(store))
    _fill(store, manager.id, LINES, batch=10_000)

    tables_read: set[str] = set()
    columns_read: set[tuple[str, str]] = set()
    statements: list[str] = []

    def authorizer(op, p1, p2, db_name, trigger):
        if op == apsw.SQLITE_READ:
            tables_read.add(p1)
            columns_read.add((p1, p2))
        return apsw.SQLITE_OK

    store.connection.set_authorizer(authorizer)
    store.connection.set_exec_trace(lambda cursor, sql, bindings: statements.append(sql) or True)
    try:
        body = _dashboard_json(store)
    finally:
        store.connection.set_authorizer(None)
        store.connection.set_exec_trace(None)

    assert statements, "the trace saw the dashboard's statements"
    assert {"objectives", "sessions", "targets", "questions"} <= tables_read
    assert "transcript" not in tables_read
    # of the transcript, only the key of each session's last line (its line count, one seek): no content
    assert {column for table, column in columns_read if table == "transcript_lines"} <= {"key", ""}  # "": the row
    assert len(body) < 64 * 1024
    # only the line count grew, and the session's one-line summary of its newest line and that line's time
    assert len(body) - size_before <= len(str(LINES)) + oneline.LIMIT + 40
    row = json.loads(body)["sessions"][0]
    assert row["transcript_lines"] == LINES
    assert row["now"] == f"line {LINES} " + "x" * 40 and row["last_output_at"] is not None
