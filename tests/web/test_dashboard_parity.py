"""The live dashboard equals a fresh load at every moment that matters (issue 14), in headless Chromium.

Page A stays open the whole run and lives on the websocket's deltas. At each checkpoint of a team's run a
fresh tab (page B) loads the dashboard anew; what both pages render is read back from their DOM, normalized,
and compared with each other and with the API's truth (``GET /api/dashboard``).

The team is steered by the user's answers, never by the clock, so each checkpoint is a quiet state: the
manager spawns two workers and asks the user a question; each worker asks the user a question too and waits
for its answer. Answering (from page A's forms, as a user would) moves the run one step at a time.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import httpx

from orcha.agents.contract import StartRequest
from orcha.agents.fake import Ask, AwaitTeam, Call, Complete, Edit, Say, Step
from orcha.model import SessionRole
from tests.web.browser import FLAGS, ServerThread, wait_until

if TYPE_CHECKING:
    import pathlib

    from playwright.sync_api import BrowserContext, Page

TOKEN = "parity-test-token-0123456789abcdef"
TERMINAL = ("completed", "failed", "canceled")

# What a page renders, read back from its DOM: the same shape ``from_api`` builds from the API's JSON.
EXTRACT = """() => {
  const text = (el) => (el ? el.textContent.trim() : null);
  const objectives = [...document.querySelectorAll("tr.objective[data-objective]")].map((tr) => {
    const status = tr.querySelector("span[class^='st-']");
    const calls = /(\\d+) turns?\\b/.exec(tr.textContent);
    return [tr.dataset.objective, text(status), calls ? Number(calls[1]) : null];
  });
  const sessions = [...document.querySelectorAll("tr[data-session-row]")].map((tr) => {
    const cells = tr.querySelectorAll("td");
    const live = /\\((\\d+) live\\)/.exec(cells[1].textContent);
    return [tr.dataset.sessionRow, tr.dataset.role, tr.dataset.status, live ? Number(live[1]) : null,
            text(tr.querySelector(".wait")), Number(/(\\d+) turns?/.exec(text(tr.querySelector(".turns")))[1])];
  });
  const targets = [...document.querySelectorAll("#targets tr[data-target]")].map((tr) =>
    [tr.dataset.target, text(tr.querySelectorAll("td")[3]), text(tr.querySelectorAll("td")[4])]);
  const questions = [...document.querySelectorAll("#questions .question[data-question]")]
    .map((q) => q.dataset.question);
  const prs = [...document.querySelectorAll("#prs tbody tr[data-pr]")].map((tr) =>
    [text(tr.querySelectorAll("td")[0]), text(tr.querySelectorAll("td")[1])]);
  const byId = (a, b) => (String(a[0]) < String(b[0]) ? -1 : String(a[0]) > String(b[0]) ? 1 : 0);
  return {
    summary: text(document.querySelector("#summary")),
    objectives: objectives.sort(byId),
    sessions: sessions.sort(byId),
    targets: targets.sort(byId),
    questions: questions.sort(),
    prs: prs.sort(byId),
  };
}"""


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def from_api(d: dict[str, Any]) -> dict[str, Any]:
    """The API's dashboard, normalized as ``EXTRACT`` reads a rendered page."""
    live = sum(1 for s in d["sessions"] if s["status"] not in TERMINAL)
    objective_ids = {o["id"] for o in d["objectives"]}
    return {
        "summary": f"{plural(len(d['objectives']), 'objective')} · {plural(live, 'live session')} · "
        f"{plural(len(d['open_questions']), 'open question')}",
        "objectives": sorted([o["id"], o["status"], o["model_calls"]] for o in d["objectives"]),
        "sessions": sorted(
            [
                s["id"],
                s["role"],
                s["status"],
                s["live_workers"] if s["role"] == "manager" else None,
                s["waiting_for"] or None,
                s["usage"]["model_calls"],
            ]
            for s in d["sessions"]
            if s["objective_id"] in objective_ids  # the page shows sessions under their objectives
        ),
        "targets": sorted([t["id"], t["status"], f"{t['load']}/{t['capacity_sessions']}"] for t in d["targets"]),
        "questions": sorted(q["id"] for q in d["open_questions"]),
        "prs": sorted([f"#{p['number']}", p["state"]] for p in d["pull_requests"]),
    }


def steered_team(request: StartRequest) -> Sequence[Step]:
    """A team whose every step waits for the user: quiet states between the answers."""
    if request.role is SessionRole.MANAGER:
        return [
            Say("planning"),
            Call("spawn_session", {"prompt": "part 1"}),
            Call("spawn_session", {"prompt": "part 2"}),
            Call("ask_user", {"question": "Which license?"}),
            AwaitTeam(poll_seconds=0.05),
            Call("mark_objective_done", {"summary": "two PRs"}),
            Complete("done"),
        ]
    return [
        Say("working"),
        Ask(f"{request.prompt}: which test framework?"),
        Edit("a.py"),
        Call("publish_pr", {"title": request.prompt}),
        Complete("ok"),
    ]


class Truth:
    """The API's dashboard, read from the test's thread with the token."""

    def __init__(self, url: str) -> None:
        self._client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)

    def raw(self) -> dict[str, Any]:
        response = self._client.get("/api/dashboard")
        response.raise_for_status()
        return response.json()

    def until(self, what: str, check: Callable[[dict[str, Any]], bool], within: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + within
        while True:
            d = self.raw()
            if check(d):
                return d
            assert time.monotonic() < deadline, f"the API never reached {what}: {json.dumps(from_api(d), indent=1)}"
            time.sleep(0.05)

    def close(self) -> None:
        self._client.close()


def rendered(page: Page) -> dict[str, Any]:
    return page.evaluate(EXTRACT)


def checkpoint(step: str, url: str, truth: Truth, live_page: Page, context: BrowserContext) -> dict[str, Any]:
    """Page A (live) equals the API, and a fresh load (page B) equals both."""
    expected = from_api(truth.raw())
    deadline = time.monotonic() + 5.0
    while rendered(live_page) != expected:  # the deltas' time to arrive: a condition, not a sleep
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
        expected = from_api(truth.raw())
    live = rendered(live_page)
    assert live == expected, f"{step}: the live page is stale\nlive: {live}\napi:  {expected}"

    fresh_page = context.new_page()
    try:
        fresh_page.goto(url + "/")  # the same browser context: logged in by page A's login
        fresh_page.wait_for_selector("#conn.live")
        wait_until(fresh_page, "() => document.querySelector('#summary').textContent !== ''")
        fresh = rendered(fresh_page)
    finally:
        fresh_page.close()
    again = from_api(truth.raw())
    assert again == expected, f"{step}: the API moved during the checkpoint (not a quiet state)"
    assert fresh == expected, f"{step}: a fresh load differs from the API\nfresh: {fresh}\napi:   {expected}"
    assert rendered(live_page) == fresh, f"{step}: the live page differs from a reload"
    return expected


def answer(page: Page, question_id: str, text: str) -> None:
    form = f".question[data-question='{question_id}']"
    page.fill(f"{form} input[name=answer]", text)
    page.click(f"{form} button[type=submit]")


def test_live_dashboard_equals_a_fresh_load_at_each_step(tmp_path: pathlib.Path, chromium: str) -> None:
    from playwright.sync_api import sync_playwright

    with ServerThread(tmp_path, token=TOKEN, scripts=steered_team) as server, sync_playwright() as p:
        truth = Truth(server.url)
        browser = p.chromium.launch(executable_path=chromium, args=FLAGS)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 900})
            page = context.new_page()  # page A: open from before the objective exists until its end
            page.goto(f"{server.url}/?token={TOKEN}")
            page.wait_for_selector("#conn.live")
            check = functools.partial(checkpoint, url=server.url, truth=truth, live_page=page, context=context)
            check("before anything")

            page.fill("#new-objective-form input[name=title]", "Port subsystem to Rust")
            page.fill("#new-objective-form input[name=prompt]", "Split it in two and open a PR for each part.")
            page.click("#new-objective-form button[type=submit]")

            def workers(d: dict[str, Any]) -> list[dict[str, Any]]:
                return sorted((s for s in d["sessions"] if s["role"] == "worker"), key=lambda s: s["id"])

            # 1. The team at work: two workers wait for their answers, the manager for its team; three questions.
            d = truth.until(
                "two waiting workers and three questions",
                lambda d: (
                    len(d["open_questions"]) == 3
                    and len(workers(d)) == 2
                    and all(w["status"] == "waiting_input" for w in workers(d))
                ),
            )
            [manager] = [s for s in d["sessions"] if s["role"] == "manager"]
            asked = {q["asked_by"]: q["id"] for q in d["open_questions"]}
            first, second = workers(d)
            state = check("the team at work")
            assert [t[2] for t in state["targets"]] == ["2/4"], state
            assert [s[3] for s in state["sessions"] if s[1] == "manager"] == [2], state

            # 2. The manager's question answered (from page A's form).
            answer(page, asked[manager["id"]], "MIT, please")
            truth.until("the manager's question answered", lambda d: len(d["open_questions"]) == 2)
            state = check("the manager's question answered")
            assert asked[manager["id"]] not in state["questions"], state

            # 3. One worker answered: it publishes its PR and ends; the load changes.
            answer(page, asked[first["id"]], "pytest")
            truth.until(
                "the first worker done",
                lambda d: (
                    [w["status"] for w in workers(d)] == ["completed", "waiting_input"]
                    and len(d["pull_requests"]) == 1
                    and d["targets"][0]["load"] == 1
                ),
            )
            state = check("one worker done")
            assert [t[2] for t in state["targets"]] == ["1/4"], state
            assert [s[3] for s in state["sessions"] if s[1] == "manager"] == [1], state

            # 4. The last worker answered: the team is done, the manager marks the objective done and ends.
            answer(page, asked[second["id"]], "pytest too")
            truth.until(
                "the objective done and its manager ended",
                lambda d: (
                    [o["status"] for o in d["objectives"]] == ["done"]
                    and all(s["status"] == "completed" for s in d["sessions"])
                    and d["targets"][0]["load"] == 0
                ),
            )
            state = check("the objective done")
            assert state["summary"] == "1 objective · 0 live sessions · 0 open questions", state
            assert [t[2] for t in state["targets"]] == ["0/4"], state
            assert len(state["prs"]) == 2 and state["questions"] == [], state
        finally:
            browser.close()
            truth.close()
