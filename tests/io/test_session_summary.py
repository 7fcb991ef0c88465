"""A session's row says, without a click: its task, what it is doing now, when it last printed, when it ran,
its branch; an open question names its objective and the asking session's task."""

from __future__ import annotations

import json

from orcha.io.store import Store
from orcha.io.store._schema import MIGRATIONS
from orcha.model import SessionStatus, TranscriptKind, TranscriptLine, Usage, WorkspaceKind
from tests.conftest import make_target, make_worker
from tests.io.old_schema import database_at


def line(session_id: str, kind: TranscriptKind, body: str, ts: float, **extra: object) -> TranscriptLine:
    return TranscriptLine(session_id=session_id, kind=kind, body=body, ts=ts, **extra)  # type: ignore[arg-type]


def tool_call(tool: str, **arguments: object) -> str:
    return json.dumps({"tool": tool, "arguments": arguments})


def test_a_commit_of_lines_writes_what_each_session_is_doing_now(store):
    objective, manager = store.create_objective(title="t", prompt="\nPlan the port\nin detail", agent="fake")
    worker = make_worker(store, objective.id)
    store.append_transcript(
        [
            line(manager.id, TranscriptKind.TEXT, "Looking around", 10.0),
            line(worker.id, TranscriptKind.TOOL_CALL, tool_call("Edit", file_path="src/app.py"), 11.0),
            line(manager.id, TranscriptKind.TOOL_CALL, tool_call("Bash", command="make"), 12.0),
            line(worker.id, TranscriptKind.TOOL_RESULT, "edited", 13.0, tool="Edit"),
            line(manager.id, TranscriptKind.USAGE, "{}", 14.0),
        ]
    )
    got = store.get_session(manager.id)
    assert (got.task, got.now, got.last_output_at) == ("Plan the port", "Bash make", 14.0)
    assert (store.get_session(worker.id).now, store.get_session(worker.id).last_output_at) == ("Edit src/app.py", 13.0)

    # a batch that says nothing new keeps the summary and moves the time; a failed result names its tool
    store.append_transcript([line(manager.id, TranscriptKind.SYSTEM, "turn completed", 15.0)])
    store.append_transcript(
        [line(worker.id, TranscriptKind.TOOL_RESULT, "Traceback\nValueError", 16.0, failed=True, tool="Bash")]
    )
    assert store.get_session(manager.id).now == "Bash make"
    assert store.get_session(manager.id).last_output_at == 15.0
    assert store.get_session(worker.id).now == "✗ Bash: Traceback"
    page = store.read_transcript(worker.id).items
    assert [(e.kind, e.failed) for e in page] == [("tool_call", False), ("tool_result", False), ("tool_result", True)]

    rows = {row.id: row for row in store.dashboard().sessions}
    assert rows[manager.id].now == "Bash make" and rows[manager.id].last_output_at == 15.0
    assert rows[manager.id].task == "Plan the port" and rows[worker.id].task == "do it"
    assert store.dashboard_row("session", worker.id).now == "✗ Bash: Traceback"


def test_a_secret_never_reaches_the_summary(store):
    _, manager = store.create_objective(title="t", prompt="p", agent="fake")
    store.append_transcript([line(manager.id, TranscriptKind.TEXT, "token ghp_" + "a" * 36, 1.0)])
    assert "a" * 36 not in (store.get_session(manager.id).now or "")


def test_a_restart_keeps_what_a_session_was_doing(db_path):
    with Store(db_path) as store:
        _, manager = store.create_objective(title="t", prompt="p", agent="fake")
        store.append_transcript([line(manager.id, TranscriptKind.TEXT, "Halfway there", 5.0)])
    with Store(db_path) as again:
        assert again.get_session(manager.id).now == "Halfway there"
        assert again.dashboard().sessions[0].now == "Halfway there"
        assert again.dashboard().sessions[0].last_output_at == 5.0


def test_a_session_records_when_it_first_ran_and_when_it_ended(store):
    clock = iter(float(n) for n in range(100, 200))
    timed = Store(store.path, clock=lambda: next(clock))
    target = make_target(timed)
    _, manager = timed.create_objective(title="t", prompt="p", agent="fake")
    assert (manager.started_at, manager.ended_at) == (None, None)
    timed.claim_target_slot(target.id, manager.id)
    timed.update_session_status(manager.id, SessionStatus.STARTING)
    running = timed.update_session_status(manager.id, SessionStatus.RUNNING)
    timed.update_session_status(manager.id, SessionStatus.WAITING_INPUT)
    again = timed.update_session_status(manager.id, SessionStatus.RUNNING)
    assert running.started_at is not None and again.started_at == running.started_at  # the first run
    ended = timed.update_session_status(manager.id, SessionStatus.COMPLETED)
    assert ended.ended_at is not None and ended.ended_at > running.started_at
    row = timed.dashboard().sessions[0]
    assert (row.started_at, row.ended_at) == (running.started_at, ended.ended_at)
    timed.close()


def test_a_row_names_its_workspace_branch(store):
    objective, manager = store.create_objective(title="t", prompt="p", agent="fake")
    workspace = store.create_workspace(objective_id=objective.id, kind=WorkspaceKind.ISOLATED, branch="orcha/fix-1")
    store.set_session_fields(manager.id, workspace_id=workspace.id)
    assert store.get_session(manager.id).branch == "orcha/fix-1"
    assert store.dashboard().sessions[0].branch == "orcha/fix-1"
    assert store.list_sessions(objective_id=objective.id)[0].branch == "orcha/fix-1"


def test_an_open_question_names_its_objective_and_the_askers_task(store):
    objective, manager = store.create_objective(title="Port to Rust", prompt="Lead the port\n...", agent="fake")
    asked = store.ask_question(objective_id=objective.id, asked_by=manager.id, text="Which crate?")
    by_nobody = store.ask_question(objective_id=objective.id, text="Budget?")
    questions = {q.id: q for q in store.dashboard().open_questions}
    assert (questions[asked.id].objective_title, questions[asked.id].asked_by_task) == ("Port to Rust", "Lead the port")
    assert (questions[by_nobody.id].objective_title, questions[by_nobody.id].asked_by_task) == ("Port to Rust", None)
    row = store.dashboard_row("question", asked.id)
    assert row is not None and row.asked_by_task == "Lead the port"


def test_a_change_of_cost_samples_the_objectives_total(store):
    objective, manager = store.create_objective(title="t", prompt="p", agent="fake")
    worker = make_worker(store, objective.id)
    store.add_session_usage(manager.id, Usage(model_calls=1), cost_total_usd=0.5)
    store.add_session_usage(manager.id, Usage(model_calls=1))  # no change of cost: no sample
    store.add_session_usage(worker.id, Usage(model_calls=1), cost_total_usd=0.25)
    store.add_session_usage(manager.id, Usage(model_calls=1), cost_total_usd=1.0)
    costs = [sample.cost_usd for sample in store.objective_timeline(objective.id).cost]
    assert costs == [0.5, 0.75, 1.25]


def test_migrating_to_this_version_backfills_times_and_the_last_output(db_path):
    version = next(n for n, (name, _) in enumerate(MIGRATIONS) if name.startswith("what a session was asked"))
    conn = database_at(db_path, version)
    conn.execute(
        "INSERT INTO sessions (id, objective_id, role, agent, prompt, status, mode, cost_usd, created_at,"
        " updated_at, num) VALUES ('ses_1', 'obj_1', 'manager', 'fake', ?, 'completed', 'interactive', 2.5, 0, 9, 1)",
        ("\n \t Lead the port \r\nthen more",),
    )
    conn.execute(
        "INSERT INTO sessions (id, objective_id, role, agent, prompt, status, mode, created_at, updated_at, num)"
        " VALUES ('ses_2', 'obj_1', 'worker', 'fake', ?, 'queued', 'interactive', 0, 0, 2)",
        ("w" * 500,),
    )
    for ts, new in ((3.0, "running"), (4.0, "waiting_input"), (5.0, "running"), (7.0, "completed")):
        conn.execute(
            "INSERT INTO events (ts, kind, objective_id, session_id, data) VALUES (?, 'session_status', 'obj_1',"
            " 'ses_1', ?)",
            (ts, json.dumps({"new": new})),
        )
    conn.execute("INSERT INTO transcript_lines (key, kind, body, ts) VALUES (?, 1, 'a', 6.0)", (2**32 + 1,))
    conn.execute("INSERT INTO transcript_lines (key, kind, body, ts) VALUES (?, 1, 'b', 6.5)", (2**32 + 2,))
    conn.pragma("user_version", version)
    conn.close()
    with Store(db_path) as migrated:
        first, second = migrated.get_session("ses_1"), migrated.get_session("ses_2")
        assert (first.started_at, first.ended_at, first.last_output_at, first.now) == (3.0, 7.0, 6.5, None)
        assert (second.started_at, second.ended_at, second.last_output_at) == (None, None, None)
        assert (first.task, second.task) == ("Lead the port", "w" * 159 + "…")  # as task_of would say
        assert [(c.at, c.cost_usd) for c in migrated.objective_timeline("obj_1").cost] == [(9.0, 2.5)]
        migrated.append_transcript([line("ses_1", TranscriptKind.TEXT, "after", 8.0)])
        assert migrated.get_session("ses_1").now == "after"


def test_summarize_writes_only_the_sessions_named_reading_back_a_batch_that_says_nothing(store):
    objective, manager = store.create_objective(title="t", prompt="p", agent="fake")
    worker = make_worker(store, objective.id)
    store.append_transcript(
        [
            line(manager.id, TranscriptKind.TOOL_CALL, tool_call("Bash", command="make"), 1.0),
            line(worker.id, TranscriptKind.TEXT, "worker says", 2.0),
        ],
        summarize=[worker.id],  # the manager's summary is not due
    )
    assert store.get_session(manager.id).now is None and store.get_session(worker.id).now == "worker says"
    # the manager falls due with a batch that says nothing: its newest stored lines are read back
    store.append_transcript(
        [line(manager.id, TranscriptKind.USAGE, "{}", 4.0 + n) for n in range(10)], summarize=[manager.id]
    )
    manager_now = store.get_session(manager.id)
    assert (manager_now.now, manager_now.last_output_at) == ("Bash make", 13.0)
    store.append_transcript([], summarize=[worker.id, "ses_gone"])  # summaries alone; an unknown id is skipped
    assert store.get_session(worker.id).now == "worker says"
    assert store.append_transcript([], summarize=[]) == []
