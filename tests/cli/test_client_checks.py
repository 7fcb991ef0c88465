"""What the command line refuses to do for a server: run a program it names, send it the local token, take an
address with a path; and the tables at 80 and 200 columns."""

from __future__ import annotations

import io

import pytest
import trio
from rich.console import Console

from orcha.cli._client import ClientError, find_server
from orcha.cli._sessions import ENDED, Summaries, attach_argv, check_attach, dashboard_view
from tests.cli.served_cli import column

ORCHA_WRITES = [
    "tmux attach -t orcha-ses_0a37a764ea12",
    "ssh -t dev@box tmux attach -t orcha-ses_0a37a764ea12",
    "ssh -t -p 2222 -i /home/me/.ssh/id_ed25519 -o UserKnownHostsFile=/tmp/kh box "
    "tmux attach -t orcha-ses_0a37a764ea12",
]
NOT_ORCHA = [
    'sh -c "echo PWNED > /tmp/pwned2"',
    "tmux attach -t orcha-ses_other",
    "tmux attach -t 'orcha-ses_0a37a764ea12; rm -rf ~'",
    "tmux -S /tmp/sock attach -t orcha-ses_0a37a764ea12",
    "tmux attach -t orcha-ses_0a37a764ea12 ; true",
    "tmux new -s orcha-ses_0a37a764ea12 sh",
    "ssh -t -o ProxyCommand=sh\\ -c\\ id box tmux attach -t orcha-ses_0a37a764ea12",
    "ssh -t -oProxyCommand=id box tmux attach -t orcha-ses_0a37a764ea12",
    "ssh -t -p 22 -p 23 box tmux attach -t orcha-ses_0a37a764ea12",
    "ssh -t -p x box tmux attach -t orcha-ses_0a37a764ea12",
    "ssh -t -i -F box tmux attach -t orcha-ses_0a37a764ea12",
    "ssh box tmux attach -t orcha-ses_0a37a764ea12",
    "ssh -t box other tmux attach -t orcha-ses_0a37a764ea12",
    "ssh -t -- box tmux attach -t orcha-ses_0a37a764ea12",
    "ssh -t tmux attach -t orcha-ses_0a37a764ea12",
    "/usr/bin/tmux attach -t orcha-ses_0a37a764ea12",
    "tmux attach -t 'orcha-ses_0a37a764ea12'\\''",
]


@pytest.mark.parametrize("command", ORCHA_WRITES)
def test_the_attach_commands_orcha_writes_are_run(command):
    argv = attach_argv({"id": "ses_0a37a764ea12", "status": "running", "attach_command": command})
    assert argv[-4:] == ["tmux", "attach", "-t", "orcha-ses_0a37a764ea12"]


@pytest.mark.parametrize("command", NOT_ORCHA)
def test_any_other_attach_command_is_refused(command):
    with pytest.raises(ClientError, match="refusing to run the attach command") as refused:
        attach_argv({"id": "ses_0a37a764ea12", "status": "running", "attach_command": command})
    assert refused.value.status == 1


def test_an_id_that_is_not_a_plain_word_never_makes_an_attach_command_pass():
    assert not check_attach(["tmux", "attach", "-t", "orcha-a b"], "a b")


@pytest.mark.parametrize("status", sorted(ENDED))
def test_attaching_to_an_ended_session_says_it_ended(status):
    session = {"id": "ses_1", "status": status, "attach_command": "tmux attach -t orcha-ses_1"}
    with pytest.raises(ClientError, match=f"session ses_1 has ended \\({status}\\); its pane is gone"):
        attach_argv(session)


def test_the_token_file_goes_only_to_a_server_on_this_machine(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    (tmp_path / "orcha").mkdir(mode=0o700)
    (tmp_path / "orcha" / "token").write_text("stored\n")
    (tmp_path / "orcha" / "token").chmod(0o600)
    for local in ("http://127.0.0.1:8080", "http://127.0.0.2:18999", "http://localhost:1", "http://[::1]:2"):
        assert find_server(local, None, env={}).token == "stored", local
    for other in ("http://10.0.0.5:8080", "https://orcha.example.com", "http://127.0.0.1.example.com:1"):
        found = find_server(other, None, env={})
        assert (found.token, found.token_source) == (None, "remote"), other
    assert find_server("http://10.0.0.5:8080", None, env={"ORCHA_TOKEN": "given"}).token == "given"
    assert find_server("http://10.0.0.5:8080", "flag", env={}).token == "flag"


@pytest.mark.parametrize("address", ["http://127.0.0.1:18818/api", "http://h:1/x/", "http://h:1?a=1", "http://:1"])
def test_an_address_with_a_path_is_refused(address):
    with pytest.raises(ClientError, match=r"without a path|names no host"):
        find_server(address, "t", env={})


SESSIONS = [
    {
        "id": f"ses_0a37a764ea{i:02d}",
        "objective_id": "obj_1",
        "role": "manager" if i == 0 else "worker",
        "agent": "claude",
        "status": "completed" if i % 2 else "waiting_capacity",
        "task": "Port the parser to the new grammar and keep every test of the old one green " * 2,
        "now": "Edit src/orcha/cli/_output.py with a long enough line to be cut " * 2,
        "last_output_at": 0.0,
        "usage": {"cost_usd": 12.34},
        "target_id": "tgt_1",
        "pr_url": "https://github.com/o/r/pull/123",
    }
    for i in range(3)
]
DASHBOARD = {
    "objectives": [{"id": "obj_1", "title": "Port the parser", "status": "active"}],
    "sessions": SESSIONS,
    "targets": [{"id": "tgt_1", "name": "gpu-box"}],
    "open_questions": [
        {
            "id": "q_dc76aa11bb22",
            "objective_id": "obj_1",
            "objective_title": "Port the parser",
            "asked_by": "ses_0a37a764ea01",
            "asked_by_task": "Port the parser to the new grammar",
            "text": "Should the old grammar keep working for files written before the switch, or can it go? " * 2,
        }
    ],
}


def _render(width: int) -> list[str]:
    buffer = io.StringIO()
    con = Console(file=buffer, width=width, color_system=None, soft_wrap=True)
    con.print(dashboard_view(DASHBOARD, width=width, now=100.0))
    return buffer.getvalue().splitlines()


@pytest.mark.parametrize("width", [80, 120, 200])
def test_ids_roles_statuses_and_costs_are_never_cut_and_lines_fit(width):
    lines = _render(width)
    assert max(len(line) for line in lines) <= width, "\n".join(lines)
    text = "\n".join(lines)
    for session in SESSIONS:
        assert session["id"] in text
    for word in ("manager", "worker", "completed", "waiting_capacity", "$12.34", "#123"):
        assert word in text, (word, text)
    panel = lines[lines.index("needs you") + 1 : -1]
    question = DASHBOARD["open_questions"][0]
    assert column(panel, "QUESTION") == " ".join(question["text"].split()), text  # wrapped, never cut
    assert column(panel, "OBJECTIVE") == "Port the parser" and column(panel, "ID") == question["id"]
    assert column(panel, "ASKED BY") == question["asked_by_task"]


def test_at_200_columns_every_column_is_shown():
    header = _render(200)[0].split()
    assert header == ["ID", "ROLE", "AGENT", "STATUS", "TASK", "NOW", "OUT", "COST", "TARGET", "PR"]
    narrow = _render(80)[0].split()
    assert narrow[:3] == ["ID", "ROLE", "STATUS"] and "TASK" in narrow and "NOW" in narrow


class _Pages:
    """Stands in for the client: the messages page of a session whose second tool result failed."""

    def __init__(self) -> None:
        self.asked: list[dict[str, object]] = []

    async def get(self, path: str, **params: object) -> dict[str, object]:
        self.asked.append({"path": path, **params})
        items = [
            {"seq": 2, "kind": "tool_result", "summary": "✓ Edit"},
            {"seq": 4, "kind": "tool_result", "summary": "✗ Bash: exit 1"},
        ]
        return {"items": [i for i in items if int(i["seq"]) > int(params["after"])]}  # type: ignore[call-overload]


async def test_a_followed_tool_result_reads_as_in_the_messages_page():
    pages = _Pages()
    summaries = Summaries(pages, "ses_1")  # type: ignore[arg-type]
    lines = [
        {"seq": 1, "kind": "tool_call", "body": '{"tool": "Edit", "arguments": {"file_path": "a.py"}}'},
        {"seq": 2, "kind": "tool_result", "body": "done"},
        {"seq": 3, "kind": "tool_call", "body": '{"tool": "Bash", "arguments": {"command": "make"}}'},
        {"seq": 4, "kind": "tool_result", "body": "exit 1\nmore"},
    ]
    shown = [(await summaries.add(line))["summary"] for line in lines]
    assert shown == ["Edit a.py", "✓ Edit", "Bash make", "✗ Bash: exit 1"]
    assert len(pages.asked) == 1  # one page answered for both results


class _Restarting(_Pages):
    """The messages page of a server that is restarting: unreachable twice, then back."""

    def __init__(self, failures: list[ClientError]) -> None:
        super().__init__()
        self.failures = failures

    async def get(self, path: str, **params: object) -> dict[str, object]:
        if self.failures:
            self.asked.append({"path": path, **params})
            raise self.failures.pop(0)
        return await super().get(path, **params)


async def test_a_followed_tool_result_read_while_the_server_restarts_is_summarized_once_it_is_back(autojump_clock):
    """``logs -f`` met a server going down between a tool result's line and its summary's page: it asks again
    (as its stream reconnects), it does not end the command."""
    lost = [ClientError("lost the connection: reset by peer"), ClientError("no orcha server")]
    pages = _Restarting(lost)
    summaries = Summaries(pages, "ses_1")  # type: ignore[arg-type]
    await summaries.add({"seq": 3, "kind": "tool_call", "body": '{"tool": "Bash", "arguments": {"command": "make"}}'})
    started = trio.current_time()
    shown = await summaries.add({"seq": 4, "kind": "tool_result", "body": "exit 1"})
    assert shown["summary"] == "✗ Bash: exit 1"
    assert len(pages.asked) == 3 and trio.current_time() - started >= 0.2


async def test_a_refused_summary_page_is_not_asked_again():
    pages = _Restarting([ClientError("no such session (HTTP 404)", http_status=404)])
    summaries = Summaries(pages, "ses_1")  # type: ignore[arg-type]
    with pytest.raises(ClientError, match="404"):
        await summaries.add({"seq": 2, "kind": "tool_result", "body": "done"})
    assert len(pages.asked) == 1
