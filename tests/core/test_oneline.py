"""One-line summaries of transcript lines and prompts: pure, bounded, never raising."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orcha import oneline
from orcha.model import TranscriptEntry, TranscriptKind


def call(tool: str, **arguments: object) -> str:
    """A tool call's body as the session actor writes it."""
    return json.dumps({"tool": tool, "arguments": arguments})


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (call("Edit", file_path="src/app.py", old_string="a", new_string="b"), "Edit src/app.py"),
        (call("Read", file_path="/repo/README.md"), "Read /repo/README.md"),
        (call("Bash", command="pytest -q\nls", description="Run the tests"), "Bash pytest -q"),
        (call("shell", command=["bash", "-lc", "ls -la"]), "shell bash -lc ls -la"),
        (call("Grep", pattern="def main", path="src"), "Grep src"),
        (call("Glob", pattern="**/*.py"), "Glob **/*.py"),
        (call("WebFetch", url="https://example.org/x", prompt="summarise"), "WebFetch https://example.org/x"),
        (call("WebSearch", query="trio memory channels"), "WebSearch trio memory channels"),
        (call("Task", description="Find the bug", prompt="long\nprompt"), "Task Find the bug"),
        (call("steer_session", session_id="ses_1", text="go"), "steer_session ses_1"),
        (
            call("file_change", changes=[{"path": "a.py", "kind": "update"}, {"path": "b.py", "kind": "add"}]),
            "file_change update a.py, add b.py",
        ),
        (call("Mystery", flag=True, note="first short string"), "Mystery first short string"),
        (call("Nothing"), "Nothing"),
        (json.dumps({"tool": "Edit", "input": {"file_path": "x.py"}}), "Edit x.py"),  # Claude's own shape
    ],
)
def test_a_tool_call_reads_as_its_tool_and_key_argument(body, expected):
    assert oneline.describe(TranscriptKind.TOOL_CALL, body) == expected


def test_each_kind_reads_as_one_line_or_nothing():
    d = oneline.describe
    assert d("text", "\n\n  Looking at the failing test.  \nMore detail") == "Looking at the failing test."
    assert d("tool_result", "ok", tool="Edit") == "✓ Edit"
    assert d("tool_result", "Traceback\nboom", failed=True, tool="Bash") == "✗ Bash: Traceback"
    assert d("tool_result", "no such file", failed=True) == "✗ no such file"
    assert d("tool_result", "fine") == "✓"
    assert d("error", "rate limited\nretry") == "✗ rate limited"
    assert d("user", "please also fix b.py") == "» please also fix b.py"
    assert d("question", "Which crate?") == "? Which crate?"
    assert d("screen", "\x1b[1;32m$ make\x1b[0m") == "$ make"
    for kind in ("usage", "system", "not-a-kind"):
        assert d(kind, "anything") is None
    for kind in ("text", "error", "user", "question", "screen"):
        assert d(kind, " \n\t\n ") is None


def test_a_summary_is_cut_to_the_limit_with_an_ellipsis():
    line = oneline.describe("text", "x" * 1000)
    assert line is not None and len(line) == oneline.LIMIT and line.endswith("…")
    assert oneline.task_of("a" * 161) == "a" * 159 + "…"
    assert oneline.task_of("a" * 160) == "a" * 160


def test_a_task_is_the_prompts_first_non_blank_line():
    assert oneline.task_of("\n   \nFix the login bug\nDetails follow") == "Fix the login bug"
    assert oneline.task_of("") == ""
    assert oneline.task_of("\x00\x07\n") == ""


def test_control_characters_escapes_and_bidi_overrides_are_stripped():
    line = oneline.describe("text", "a\x00b\x07c\u202ed\x1b]0;title\x07e\x1b[2Jf\tg\rh\ud800i")
    assert line == "abcdef ghi"


def test_hostile_tool_call_bodies_never_raise():
    d = oneline.describe
    assert d("tool_call", "{not json") == "{not json"
    assert d("tool_call", "[1, 2]") == "[1, 2]"
    assert d("tool_call", '{"tool": 5, "arguments": []}') == '{"tool": 5, "arguments": []}'  # no name: the line
    assert d("tool_call", json.dumps({"tool": "Edit", "arguments": {"file_path": 7}})) == "Edit"
    assert d("tool_call", "[" * 100_000) is not None
    deep = '{"tool": "Edit", "arguments": ' + "[" * 5000 + "]" * 5000 + "}"
    assert d("tool_call", deep) == "Edit"
    huge = json.dumps({"tool": "Write", "arguments": {"file_path": "big.txt", "content": "x" * 1_000_000}})
    assert d("tool_call", huge) == "Write big.txt"  # too long to parse: found by pattern
    escaped = json.dumps({"tool": "Bash", "arguments": {"command": 'echo "hi"\n', "pad": "y" * 100_000}})
    assert d("tool_call", escaped) == 'Bash echo "hi"'
    assert d("text", "x" * 10_000_000 + "\n") is not None
    assert d("text", None) is None  # type: ignore[arg-type]


@given(kind=st.sampled_from([*map(str, TranscriptKind), "other"]), body=st.text(max_size=400), failed=st.booleans())
def test_any_line_is_summarised_in_at_most_the_limit_of_printable_characters(kind, body, failed):
    line = oneline.describe(kind, body, failed=failed, tool="T")
    if line is not None:
        assert 0 < len(line) <= oneline.LIMIT
        assert line == line.strip() and "\n" not in line
        assert all(ch.isprintable() for ch in line)


def entry(session: str, seq: int, kind: TranscriptKind, body: str, *, failed: bool = False) -> TranscriptEntry:
    return TranscriptEntry(session_id=session, seq=seq, kind=kind, body=body, ts=float(seq), failed=failed)


def test_latest_takes_each_sessions_newest_meaningful_line_and_its_newest_time():
    batch = [
        entry("a", 1, TranscriptKind.TEXT, "Reading the code"),
        entry("b", 1, TranscriptKind.TOOL_CALL, call("Bash", command="make")),
        entry("a", 2, TranscriptKind.TOOL_CALL, call("Edit", file_path="src/app.py")),
        entry("a", 3, TranscriptKind.TOOL_RESULT, "edited"),  # a success says less than its call
        entry("b", 2, TranscriptKind.TOOL_RESULT, "make: *** [all] Error 2", failed=True),
        entry("c", 1, TranscriptKind.USAGE, "{}"),
        entry("a", 4, TranscriptKind.SYSTEM, "turn completed"),
    ]
    assert oneline.latest(batch) == {
        "a": oneline.Now(now="Edit src/app.py", last_output_at=4.0),
        "b": oneline.Now(now="✗ Bash: make: *** [all] Error 2", last_output_at=2.0),
        "c": oneline.Now(now=None, last_output_at=1.0),
    }


def test_latest_looks_at_a_bounded_number_of_lines_per_session():
    batch = [entry("a", 1, TranscriptKind.TEXT, "said something")]
    batch += [entry("a", n, TranscriptKind.USAGE, "{}") for n in range(2, oneline.SCAN_LINES + 2)]
    assert oneline.latest(batch)["a"].now is None  # said too long ago in this batch: the stored one stands


def test_summaries_pair_results_with_their_calls_in_order():
    page = [
        entry("a", 1, TranscriptKind.TOOL_RESULT, "orphan"),  # its call is on an earlier page
        entry("a", 2, TranscriptKind.TOOL_CALL, call("Read", file_path="a.py")),
        entry("a", 3, TranscriptKind.TOOL_CALL, call("Edit", file_path="a.py")),
        entry("a", 4, TranscriptKind.TOOL_RESULT, "contents"),
        entry("a", 5, TranscriptKind.TOOL_RESULT, "old_string not found", failed=True),
        entry("a", 6, TranscriptKind.USAGE, "{}"),
    ]
    assert oneline.summaries(page) == ["✓", "Read a.py", "Edit a.py", "✓ Read", "✗ Edit: old_string not found", None]


@given(st.one_of(st.text(), st.text(alphabet="ab \t\u00a0\u200bx", max_size=200)), st.integers(1, 200))
def test_a_short_clean_line_reads_as_the_general_path_reads_it(text, limit):
    # with a line after it, a text always takes the general path: the shortcut must agree with it
    assert oneline.first_line(text, limit) == oneline.first_line(text + "\n", limit)
