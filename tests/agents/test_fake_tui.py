"""The fake agent TUI without tmux: its in-band reports, its keyboard, and its player's turns."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Mapping
from typing import Any

import pytest
import trio

from orcha.agents.contract import AgentError, Exhausted, QuestionAsked, TurnCompleted, UsageReport
from orcha.agents.fake import Ask, AwaitTeam, Call, Complete, EndTurn, Exhaust, Say
from orcha.agents.fake_tui.player import Identity, OrchaUnreachableError, Player, Waiting
from orcha.agents.fake_tui.progress import FileProgress
from orcha.agents.fake_tui.terminal import LineEditor
from orcha.agents.pane_reports import PaneReports, report
from orcha.agents.tmux import clean
from orcha.agents.tools import ToolOutcome
from orcha.model import SessionRole

# --- reports ------------------------------------------------------------------------------------------------


def test_reports_are_taken_out_of_a_line_and_become_events():
    reports = PaneReports()
    line = report("usage", model_calls=1, input_tokens=110, output_tokens=25, cost_usd=0.25) + "● Planning"
    visible, events = reports.feed(line)
    assert visible == "● Planning"
    assert events == [UsageReport(model_calls=1, input_tokens=110, output_tokens=25, cost_total_usd=0.25)]
    _, events = reports.feed(report("usage", model_calls=1, cost_usd=0.5))
    assert events == [UsageReport(model_calls=1, cost_total_usd=0.75)]  # a running total, as the contract says
    visible, events = reports.feed(
        f"? Which DB?{report('question', text='Which DB?')}{report('turn', final='Which DB?')}"
    )
    assert visible == "? Which DB?"
    assert events == [QuestionAsked(text="Which DB?"), TurnCompleted(final_text="Which DB?")]
    _, events = reports.feed(report("error", message="boom") + report("turn", final="x", failed=True))
    assert events == [AgentError(message="boom"), TurnCompleted(final_text="x", failed=True)]
    _, events = reports.feed(report("exhausted", message="limit", resets_at=1e9, billing=True))
    assert events == [Exhausted(message="limit", resets_at=1e9, billing=True)]


def test_a_report_is_invisible_once_the_terminal_escapes_are_cleaned():
    line = report("turn", final="done \x1b[31m\x07 with escapes in it") + "  ✓ done"
    assert clean(line) == "  ✓ done"  # what a reader that does not take reports keeps: the text only
    visible, [event] = PaneReports().feed(line)
    assert visible == "  ✓ done"
    assert event == TurnCompleted(final_text="done \x1b[31m\x07 with escapes in it")


@pytest.mark.parametrize(
    "bad",
    [
        "\x1b]orcha;not json\x07",
        "\x1b]orcha;[1, 2]\x07",
        '\x1b]orcha;{"kind": "unknown"}\x07',
        '\x1b]orcha;{"kind": "question", "text": 7}\x07',
    ],
)
def test_a_bad_report_is_dropped_and_the_text_kept(bad):
    visible, events = PaneReports().feed(bad + "hello")
    assert events == []
    assert clean(visible) == "hello"


def test_usage_numbers_that_are_not_counts_count_nothing():
    _, [event] = PaneReports().feed(
        report("usage", model_calls="many", input_tokens=-5, output_tokens=True, cost_usd=float("inf"))
    )
    assert event == UsageReport(model_calls=0, input_tokens=0, output_tokens=0, cost_total_usd=0.0)


# --- the keyboard -------------------------------------------------------------------------------------------


def test_enter_sends_and_a_newline_stays_in_the_text():
    editor = LineEditor()
    echo, sent = editor.feed("first line\nsecond")
    assert sent == [] and echo == "> first line\n  second"
    echo, sent = editor.feed(" part\r")
    assert sent == ["first line\nsecond part"] and echo == " part\n"
    assert editor.feed("\r") == ("", [])  # Enter on nothing sends nothing


def test_backspace_and_escape_sequences_are_edits_not_text():
    editor = LineEditor()
    echo, sent = editor.feed("ab\x7fc\x1b[A\x1bOB\x1b[1;5Cd\x01\r")
    assert sent == ["acd"]
    assert echo == "> ab\b \bcd\n"


def test_without_a_terminal_each_line_is_an_input():
    editor = LineEditor(submit="\n")
    assert editor.feed("one\ntwo\n")[1] == ["one", "two"]


# --- the player ---------------------------------------------------------------------------------------------


class Tools:
    """A scripted tool surface: answers by tool name; records every call."""

    def __init__(self, answers: Mapping[str, Any] | None = None) -> None:
        self.answers = dict(answers or {})
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.down = 0
        """How many calls to refuse as unreachable first."""

    async def call(self, name: str, arguments: Mapping[str, Any], *, call_id: str | None = None) -> ToolOutcome:
        await trio.lowlevel.checkpoint()
        if self.down:
            self.down -= 1
            raise OrchaUnreachableError("cannot reach orcha at http://127.0.0.1:1/mcp/x (3 tries in 7 s): refused")
        self.calls.append((name, dict(arguments)))
        answer = self.answers.get(name, ToolOutcome(text=f"{name} ok"))
        return answer(arguments) if callable(answer) else answer


class Screen:
    """What the TUI printed, and the events its reports stand for."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.events: list[Any] = []
        self._reports = PaneReports()

    def line(self, text: str, *reports: str) -> None:
        visible, events = self._reports.feed("".join(reports) + text)
        self.lines.append(visible)
        self.events.extend(events)

    def turns(self) -> list[TurnCompleted]:
        return [e for e in self.events if isinstance(e, TurnCompleted)]


def _player(tools, script, *, role=SessionRole.WORKER, cwd=None) -> tuple[Player, Screen]:
    screen = Screen()
    identity = Identity(session_id="ses_00000000abcd", objective_id="obj_000000000001", role=role, agent="claude",
                        cwd=cwd)  # fmt: skip
    return Player(identity, tools, screen, scripts=lambda request: script(request)), screen


async def test_the_default_worker_edits_publishes_and_ends_its_turn_once(tmp_path, autojump_clock):
    published = ToolOutcome(text="opened https://forge/pull/1 (PR #1, id pr_1)", data={"pr_id": "pr_1"})
    tools = Tools({"publish_pr": published})
    from orcha.agents.scripts import default_script

    player, screen = _player(tools, default_script, cwd=str(tmp_path))
    await player.take("Part 1 of: port it. Implement it and open a PR.")
    assert tools.calls == [("publish_pr", {"title": "Part 1 of: port it. Implement it and open a PR.",
                                           "body": "Implements the part."})]  # fmt: skip
    assert screen.turns() == [TurnCompleted(final_text="PR published")]
    assert "● Edit(src/part_abcd.py)" in screen.lines
    assert "wrote the change" in (tmp_path / "src" / "part_abcd.py").read_text()
    usage = [e for e in screen.events if isinstance(e, UsageReport)]
    assert len(usage) == 4 and usage[-1].cost_total_usd == pytest.approx(0.004)
    assert player.waiting is Waiting.DONE
    await player.take("one more thing")  # acknowledged, one turn more, nothing done
    assert screen.turns()[-1] == TurnCompleted(final_text="PR published") and len(screen.turns()) == 2
    assert len(tools.calls) == 1


async def test_a_failed_tool_takes_over_the_script_with_its_error(autojump_clock):
    refusal = ToolOutcome(text="publish_pr failed: no commits", is_error=True)
    tools = Tools({"publish_pr": refusal})
    script = [Call("publish_pr", {"title": "t"}, on_error=(Complete("could not publish: {error}", failed=True),)),
              Complete("never")]  # fmt: skip
    player, screen = _player(tools, lambda request: script)
    await player.take("go")
    assert AgentError(message="publish_pr: publish_pr failed: no commits") in screen.events
    assert screen.turns() == [TurnCompleted(final_text="could not publish: publish_pr failed: no commits", failed=True)]


async def test_a_question_ends_the_turn_and_the_answer_goes_on(autojump_clock):
    player, screen = _player(Tools(), lambda request: [Ask("Which license?"), Say("Using it."), Complete("done")])
    await player.take("go")
    assert screen.events[-2:] == [QuestionAsked(text="Which license?"), TurnCompleted(final_text="Which license?")]
    assert player.waiting is Waiting.SCRIPT
    await player.take("MIT")
    assert "● Using it." in screen.lines
    assert screen.turns()[-1] == TurnCompleted(final_text="done")


async def test_a_manager_waits_for_its_team_acknowledges_notices_and_passes_on_the_users_words(autojump_clock):
    team = {"sessions": [{"id": "ses_w1", "role": "worker", "status": "running"},
                         {"id": "ses_w2", "role": "worker", "status": "completed"}]}  # fmt: skip
    tools = Tools(
        {"list_sessions": ToolOutcome(text="", data=team), "list_prs": ToolOutcome(text="", data={"prs": [1]})}
    )
    script = [Call("spawn_session", {"prompt": "a"}), AwaitTeam(), Call("mark_objective_done", {"summary": "{team}"})]
    player, screen = _player(tools, lambda request: script, role=SessionRole.MANAGER)
    await player.take("the objective")
    assert screen.turns() == [TurnCompleted(final_text="waiting for my team")]
    await player.take("Update from your team: Worker ses_w2 completed: PR published")
    assert [name for name, _ in tools.calls] == ["spawn_session", "list_sessions"]  # a notice is not passed on
    await player.take("Use the MIT license")
    assert ("message_session", {"session": "ses_w1", "text": "From your manager: Use the MIT license"}) in tools.calls
    assert len(screen.turns()) == 3 and player.waiting is Waiting.TEAM
    team["sessions"][0]["status"] = "completed"
    await player.take("Update from your team: Your team has finished (2 completed). PRs: #1.")
    assert tools.calls[-1] == ("mark_objective_done", {"summary": "team finished: 2 completed; 1 PR(s)"})
    shown = '● mark_objective_done(summary: "team finished: 2'
    assert any(line.startswith(shown) for line in screen.lines), screen.lines
    assert not any("{team}" in line for line in screen.lines)  # the pane shows the call as the tool got it
    assert len(screen.turns()) == 4


async def test_an_unreachable_orcha_fails_the_turn_and_the_next_input_tries_the_call_again(autojump_clock):
    tools = Tools()
    tools.down = 1
    player, screen = _player(tools, lambda request: [Say("hi"), Call("create_note", {"text": "n"}), Complete("ok")])
    await player.take("go")
    [turn] = screen.turns()
    assert turn.failed and "cannot reach orcha" in turn.final_text
    assert tools.calls == []
    await player.take("try again")
    assert tools.calls == [("create_note", {"text": "n"})]  # once: the call that failed, not the steps before
    assert screen.turns()[-1] == TurnCompleted(final_text="ok")
    assert screen.lines.count("● hi") == 1


async def test_out_of_quota_is_reported_and_without_tools_a_call_is_an_error(autojump_clock):
    player, screen = _player(None, lambda request: [Call("list_prs"), Exhaust("limit", resets_in=60)])
    await player.take("go")
    assert AgentError(message="list_prs: no tools available (no MCP endpoint)") in screen.events
    [exhausted] = [e for e in screen.events if isinstance(e, Exhausted)]
    assert exhausted.message == "limit" and exhausted.resets_at is not None
    assert screen.turns()[-1].failed


async def test_play_takes_every_input_and_exits_1_after_a_failed_turn(autojump_clock):
    player, screen = _player(Tools(), lambda request: [Complete("no", failed=True)])
    send, receive = trio.open_memory_channel[str](10)
    async with send:
        await send.send("go")
        await send.send("and?")
    assert await player.play(receive) == 1
    assert len(screen.turns()) == 2


# --- its place, kept ----------------------------------------------------------------------------------------


class Book:
    def __init__(self) -> None:
        self.data: dict[str, Any] | None = None

    def load(self) -> dict[str, Any] | None:
        return self.data

    def save(self, data: dict[str, Any]) -> None:
        self.data = json.loads(json.dumps(data))  # what a file would hold


def _with_book(tools, script, book, *, role=SessionRole.WORKER) -> tuple[Player, Screen]:
    screen = Screen()
    identity = Identity(session_id="ses_00000000abcd", objective_id="obj_000000000001", role=role, agent="claude")
    return Player(identity, tools, screen, scripts=lambda request: script(request), progress=book), screen


async def test_a_new_player_carries_on_where_the_last_one_stopped(autojump_clock):
    def script(request):
        return [Say(f"about {request.prompt}"), Ask("Which license?"), Call("create_note", {"text": "{team}"}),
                Complete("noted")]  # fmt: skip

    book = Book()
    first, _ = _with_book(Tools(), script, book)
    assert not first.restore()  # nothing kept yet: the first input is the prompt
    await first.take("the port")
    assert book.data is not None and book.data["position"] == 2 and book.data["waiting"] == "script"

    tools = Tools()
    second, screen = _with_book(tools, script, book)
    assert second.restore()
    assert screen.lines == ["(carrying on from step 2 of 4 of the last run)"]
    await second.take("MIT")  # the answer, to the question the first player asked
    assert tools.calls == [("create_note", {"text": "the team has not reported yet"})]
    assert screen.turns() == [TurnCompleted(final_text="noted")]
    assert not any(line.startswith("● about") for line in screen.lines)  # the steps done stay done


async def test_a_kept_takeover_and_team_come_back_too(autojump_clock):
    refusal = ToolOutcome(text="no commits", is_error=True)
    script = [Call("publish_pr", {}, on_error=(EndTurn("could not: {error}"), Complete("gave up: {error}"))),
              Complete("never")]  # fmt: skip
    book = Book()
    first, _ = _with_book(Tools({"publish_pr": refusal}), lambda request: script, book)
    await first.take("go")
    second, screen = _with_book(Tools(), lambda request: script, book)
    assert second.restore()
    await second.take("and?")
    assert screen.turns() == [TurnCompleted(final_text="gave up: no commits")]


def test_an_unreadable_book_starts_the_script_over(tmp_path):
    progress = FileProgress(str(tmp_path / "p.json"))
    assert progress.load() is None
    progress.save({"prompt": "x", "position": 1, "waiting": "team"})
    assert progress.load() == {"prompt": "x", "position": 1, "waiting": "team"}
    assert stat.S_IMODE(os.stat(tmp_path / "p.json").st_mode) == 0o600
    (tmp_path / "p.json").write_text("{torn")
    assert progress.load() is None
    player, _ = _with_book(Tools(), lambda request: [Complete("ok")], progress)
    assert not player.restore() and player.waiting is Waiting.PROMPT
