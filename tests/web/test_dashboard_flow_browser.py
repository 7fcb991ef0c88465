"""A supervisor's whole loop through the dashboard in headless Chromium, at the widths people use.

One heavy test (CI has two cores): create an objective from the page's form (long unbroken words everywhere),
watch the team, answer one of the manager's five questions in the objective's view, open a session with its
panel in view, move to another with the keyboard, read its tool calls as one-liners, steer it, cancel it (a
cancel asks first), watch a tmux worker that waited for capacity show its screen once it starts, cancel that
too and see its panel follow, then read the finished objective's view (summary, notes, artifacts, timeline and
cost). At 1280, 1400, 1920 and 2560 px nothing may be clipped (a cut value needs its whole text in its title),
and at every moment no console error and no failed request (the favicon included).
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import httpx

from orcha.agents.contract import StartRequest
from orcha.agents.fake import AwaitTeam, Call, Complete, Edit, Say, Step, Wait
from orcha.model import SessionRole
from tests.web.browser import ARTIFACTS, FLAGS, ServerThread, wait_until

if TYPE_CHECKING:
    from playwright.sync_api import Page

TOKEN = "flow-test-token-0123456789abcdef"
# Long unbroken words (paths, URLs) in every text a person types or an agent writes: none may widen the page.
TITLE = "Port crates/parser_and_lexer_to_rust_keeping_the_public_api_stable_for_every_downstream_user/src/lib.rs"
PROMPT = (
    "https://github.com/acme-corporation/widgets-platform/blob/main/src/widgets/very/long/path/"
    "module_name_here.py#L120-L200 is flaky; fix it"
)
SLOW = "slow: rewrite src/lexer/hand_written_state_machine_for_every_token_kind.rs with a state machine, benchmarked"
LICENSE = "Which license should the new crates use? See https://example.invalid/licenses/apache-2.0-or-mit/compared"
# A worker in tmux: prints U+23BF (Claude's result elbow, which no font here has) and a line as wide as its pane.
SHELL = r"echo on-screen-$((6*7)) $(printf '\342\216\277') done; printf 'w%.0s' $(seq 190); echo; sleep 60"
MORE_QUESTIONS = [f"Question {n}: may I touch vendor/third_party/generated_bindings_{n}_v2.rs?" for n in range(4)]
WIDTHS = (1280, 1400, 1920, 2560)


def flow_team(request: StartRequest) -> Sequence[Step]:
    """A manager with a quick worker (opens a PR) and a slow one (the one steered, then canceled)."""
    if request.role is SessionRole.MANAGER:
        return [
            Say("Planning: the parser and the lexer are independent; one worker each."),
            Call("spawn_session", {"prompt": "Port the parser to Rust and open a PR.\nKeep the API."}),
            Call("spawn_session", {"prompt": SLOW}),
            Call("spawn_session", {"prompt": SHELL, "agent": "shell"}),
            Call("ask_user", {"question": LICENSE}),
            *(Call("ask_user", {"question": q}) for q in MORE_QUESTIONS),
            Call("record_artifact", {"name": "porting plan", "url": "https://example.invalid/plan"}),
            AwaitTeam(poll_seconds=0.05),
            Call("create_note", {"text": "the lexer's rewrite was canceled by the user"}),
            Call("mark_objective_done", {"summary": "The parser is ported (one PR); the lexer waits."}),
            Complete("objective done"),
        ]
    if request.prompt.startswith("slow"):
        return [Say("Reading the lexer."), Edit("src/lexer.rs", "sketched the states"), Wait(120), Complete("ok")]
    return [Say("Porting the parser."), Wait(3), Edit("src/parser.rs"), Call("publish_pr", {"title": "parser"})]


# Every visible element whose content is wider than its box, unless it elides on purpose (class "elide")
# with its full value in its title; every table wider than its container; every cell past its section's edge.
CLIPPED = """() => {
  const bad = [];
  const name = (el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
    (el.className && typeof el.className === "string" ? "." + el.className.trim().split(/\\s+/).join(".") : "") +
    " " + JSON.stringify((el.textContent || "").trim().slice(0, 60));
  const words = (text) => (text || "").replace(/\\s+/g, " ").trim();
  for (const el of document.querySelectorAll("header *, main *")) {
    if (!el.getClientRects().length || el.closest("svg, #transcript, #screen")) continue;
    if (["INPUT", "TEXTAREA", "SELECT", "OPTION", "DATALIST"].includes(el.tagName)) continue;
    const style = getComputedStyle(el);
    if (["auto", "scroll"].includes(style.overflowX)) continue;  // scrolls on purpose
    const wide = el.clientWidth > 0 && el.scrollWidth > el.clientWidth + 1;
    const clamped = style.webkitLineClamp !== "none" && el.scrollHeight > el.clientHeight + 1;
    // Cut on purpose (one line with an ellipsis, or two lines clamped) only with its whole text in its title.
    const onPurpose = el.classList.contains("elide") || el.classList.contains("clamp");
    const titled = words(el.getAttribute("title")).includes(words(el.textContent));
    if ((wide || clamped) && !(onPurpose && titled)) {
      bad.push(`${name(el)}: content ${el.scrollWidth}x${el.scrollHeight}px in ${el.clientWidth}x${el.clientHeight}px` +
        (onPurpose ? ", cut without its text in its title" : ""));
    }
  }
  for (const table of document.querySelectorAll("table")) {
    if (!table.getClientRects().length) continue;
    const box = table.parentElement;
    if (table.offsetWidth > box.clientWidth + 1) {
      bad.push(`${name(table)}: ${table.offsetWidth}px in ${box.clientWidth}px`);
    }
  }
  for (const cell of document.querySelectorAll("td, th, .question, .facts dd")) {
    const section = cell.closest("section");
    if (!cell.getClientRects().length || !section) continue;
    const a = cell.getBoundingClientRect(), b = section.getBoundingClientRect();
    if (a.right > b.right + 1 || a.left < b.left - 1) bad.push(`${name(cell)}: past its section's edge`);
  }
  const root = document.documentElement;
  if (root.scrollWidth > root.clientWidth + 1) bad.push("the page scrolls sideways");
  return bad;
}"""


def assert_nothing_clipped(page: Page, where: str) -> None:
    clipped = page.evaluate(CLIPPED)
    assert clipped == [], f"{where}: clipped columns:\n" + "\n".join(clipped)


def at_every_width(page: Page, name: str) -> None:
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 1000})
        wait_until(page, f"() => window.innerWidth === {width}")
        page.evaluate("() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))")
        assert_nothing_clipped(page, f"{name} at {width} px")
        page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 1000})


def session_ids(page: Page) -> list[str]:
    return page.eval_on_selector_all("#sessions tr.session", "rows => rows.map((r) => r.dataset.sessionRow)")


def test_a_supervisors_whole_loop_through_the_page(tmp_path, chromium):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    problems: list[str] = []
    with (
        ServerThread(tmp_path, token=TOKEN, scripts=flow_team, local_capacity=1) as server,
        httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10) as api,
        sync_playwright() as p,
    ):
        browser = p.chromium.launch(executable_path=chromium, args=FLAGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 1000})
            page = context.new_page()
            page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None)

            def failed(request: Any) -> None:  # closing an open EventSource aborts it: that is no failure
                if not (request.failure == "net::ERR_ABORTED" and "/stream" in request.url):
                    problems.append(f"failed {request.url}: {request.failure}")

            page.on("requestfailed", failed)
            page.goto(f"{server.url}/?token={TOKEN}")
            page.wait_for_selector("#conn.live")
            assert page.inner_text("#summary") == "0 objectives · 0 live sessions · 0 open questions"

            # 0. Bad input is refused with a message on the page (and that refusal is the only failed request).
            page.fill("#new-objective-form input[name=title]", "no such agent")
            page.fill("#new-objective-form input[name=agent]", "nope")
            page.click("#new-objective-form button[type=submit]")
            page.wait_for_selector("#error:has-text('nope')")
            assert [p for p in problems if not p.startswith("console error: Failed to load resource")] == [
                f"400 {server.url}/api/objectives"
            ], problems
            problems.clear()
            page.fill("#new-objective-form input[name=agent]", "claude")

            # 1. A new objective from the page's form: its view opens; the team appears, named by what it does.
            page.fill("#new-objective-form input[name=title]", TITLE)
            page.fill("#new-objective-form input[name=prompt]", PROMPT)
            page.click("#new-objective-form button[type=submit]")
            page.wait_for_selector(f"#objective-title:has-text('{TITLE[:30]}')")
            wait_until(page, "() => document.querySelectorAll('tr[data-role=worker]').length === 3")
            wait_until(page, "() => document.querySelector('#summary').textContent.startsWith('1 objective ·')")
            tasks = page.eval_on_selector_all("tr[data-role=worker] .task", "els => els.map((e) => e.textContent)")
            assert sorted(tasks) == ["Port the parser to Rust and open a PR.", SHELL, SLOW], tasks

            # A cancel asks first: the first click only arms it, and the arming lapses.
            objective_id = page.get_attribute("tr.objective", "data-objective")
            objective_cancel = page.locator("#objective-body [data-cancel-objective]")
            objective_cancel.click()
            page.wait_for_selector("#objective-body [data-cancel-objective].armed:has-text('confirm cancel?')")
            page.wait_for_selector("#objective-body [data-cancel-objective]:not(.armed)", timeout=6000)
            assert objective_cancel.inner_text() == "cancel objective"
            assert api.get(f"/api/objectives/{objective_id}").json()["status"] == "active"

            # 2. The question names the objective by title and the asker by its task; answered in the objective view.
            wait_until(page, "() => document.querySelectorAll('#questions .question').length === 5")
            asked = page.inner_text("#questions .question:has-text('Which license')")
            assert LICENSE in asked and TITLE in asked and PROMPT in asked, asked
            assert_nothing_clipped(page, "five open questions with long words at 1280 px")
            wait_until(page, "() => document.querySelectorAll('#objective-body .question form').length === 5")
            license = page.locator("#objective-body .question", has_text="Which license")
            license.locator("input[name=answer]").fill("MIT, please")
            license.locator("button[type=submit]").click()
            wait_until(page, "() => document.querySelectorAll('#questions .question').length === 4")
            page.wait_for_selector("#objective-body .question .answer:has-text('MIT, please')")

            # 3. The quick worker, open while it works (four questions open, a 900 px high window): the session's
            # panel is in view; its live tool calls and results read as one-liners too.
            page.set_viewport_size({"width": 1280, "height": 900})
            page.click("tr[data-role=worker]:has-text('Port the parser to Rust')")
            page.wait_for_selector("#panel-meta [data-panel-status]")
            bottom = page.evaluate("() => document.querySelector('#panel-meta').getBoundingClientRect().bottom")
            assert bottom <= 900, f"the open session's facts end at y={bottom}, below the window's 900 px"
            page.set_viewport_size({"width": 1280, "height": 1000})
            page.wait_for_selector("#transcript .k-tool_call:has-text('Edit src/parser.rs')")
            page.wait_for_selector("#transcript .k-tool_result:has-text('✓ publish_pr')")

            # 4. Each session's state at a glance: the quick worker's PR; the slow one's "now" and its live clock.
            page.wait_for_selector("tr[data-role=worker] a.pr-link")
            slow = page.locator("tr[data-role=worker]", has_text="slow: rewrite")
            slow_id = slow.get_attribute("data-session-row")

            def shows_what_it_does_now() -> bool:
                [row] = [r for r in api.get("/api/dashboard").json()["sessions"] if r["id"] == slow_id]
                return bool(row["now"]) and slow.locator(".now").inner_text() == row["now"]

            deadline = time.monotonic() + 20
            while not shows_what_it_does_now():
                assert time.monotonic() < deadline, "the slow worker's row never showed what it does now"
                time.sleep(0.1)
            before = slow.locator(".ago").inner_text()
            assert re.fullmatch(r"just now|\d+[smhd]( \d+[mh])? ago", before), before
            wait_until(
                page,
                "(before) => [...document.querySelectorAll('tr[data-role=worker] .ago')]"
                ".some((e) => e.textContent !== before)",
                before,
            )
            assert "turn" in slow.locator("td.usage").inner_text() and "$" in slow.locator("td.usage").inner_text()
            assert slow.locator("td").nth(4).inner_text().startswith("local")

            # 5. The keyboard: `/` filters, j/k move, enter opens.
            page.keyboard.press("/")
            page.keyboard.type("state machine")
            wait_until(page, "() => document.querySelectorAll('#sessions tr.session').length === 1")
            page.keyboard.press("Escape")
            wait_until(page, "() => document.querySelectorAll('#sessions tr.session').length === 4")
            ids = session_ids(page)
            page.keyboard.press("j")  # from the open session's row (the quick worker's), one down and back up
            page.keyboard.press("k")
            at = ids.index(page.get_attribute("tr.session.cursor", "data-session-row"))
            for _ in range(abs(ids.index(slow_id) - at)):
                page.keyboard.press("j" if ids.index(slow_id) > at else "k")
            assert page.get_attribute("tr.session.cursor", "data-session-row") == slow_id
            page.keyboard.press("Enter")
            page.wait_for_selector("#panel-meta [data-panel-status=running]")
            assert page.is_hidden("#objective-panel")

            # 6. Tool calls read as one-liners, the whole entry one click away.
            tool = page.locator("#transcript .line.k-tool_call", has_text="Edit src/lexer.rs")
            tool.wait_for()
            assert "{" not in tool.locator(".sum").inner_text()
            tool.locator(".sum").click()
            assert '"file_path"' in tool.locator(".body").inner_text()

            # 7. The worker in tmux waits (the local machine runs one worker at a time): its row reads whole
            # ("waiting: capacity", "no output", "not placed") and has no attach yet.
            shell = page.locator("tr.session[data-role=worker]", has_text="echo on-screen")
            shell_id = shell.get_attribute("data-session-row")
            page.wait_for_selector(f"tr[data-session-row='{shell_id}'][data-status=waiting_capacity]")
            row = shell.inner_text()
            assert "waiting: capacity" in row and "no output" in row and "not placed" in row, row
            assert shell.locator("button[data-copy]").count() == 0

            # 8. The dashboard at every width, the slow worker open and the shell waiting; then steer it.
            slow.click()
            page.wait_for_selector("#panel-meta [data-panel-status=running]")
            at_every_width(page, "dashboard")
            page.fill("#steer-form input[name=text]", "start with the tokenizer")
            page.click("#steer-form button[type=submit]")
            page.wait_for_selector("#transcript .k-user:has-text('start with the tokenizer')")

            # 9. The shell, open while it waits: no screen. The slow worker's cancel (its row's button, clicked
            # twice: the first only asks) frees a place; the shell starts in tmux and its screen appears.
            shell.click()
            page.wait_for_selector("#panel-meta [data-panel-status=waiting_capacity]")
            assert page.is_hidden("#screen")
            cancel = slow.locator("button[data-cancel-session]")
            cancel.click()
            page.wait_for_selector(f"tr[data-session-row='{slow_id}'] button.armed:has-text('sure?')")
            assert api.get(f"/api/sessions/{slow_id}").json()["status"] == "running"
            cancel.click()
            page.wait_for_selector(f"tr[data-session-row='{slow_id}'][data-status=canceled]", timeout=20_000)
            page.wait_for_selector("#screen:has-text('on-screen-42')", timeout=20_000)
            screen = page.inner_text("#screen")
            assert "\u23bf" not in screen and "on-screen-42 \u2514 done" in screen, screen  # a glyph fonts have
            now_says = "(id) => document.querySelector(`tr[data-session-row='${id}'] .now`).textContent"
            wait_until(page, f"(id) => ({now_says})(id).includes('www')", shell_id)
            assert "\u23bf" not in shell.inner_text() + page.inner_text("#transcript") + page.inner_text("#panel-meta")
            page.wait_for_selector("#screen:has-text('wwwwwwwwww')")
            wide = page.evaluate(
                "() => { const e = document.querySelector('#screen'); return [e.scrollWidth, e.clientWidth]; }"
            )
            assert (
                wide[0] > wide[1]
                and page.evaluate("() => getComputedStyle(document.querySelector('#screen')).overflowX") == "auto"
            )
            context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
            shell.locator("button[data-copy]").click()
            page.wait_for_selector("tr.session button.copied")
            assert page.evaluate("() => navigator.clipboard.readText()") == f"tmux attach -t orcha-{shell_id}"
            assert_nothing_clipped(page, "a tmux session open at 1280 px")
            page.screenshot(path=str(ARTIFACTS / "dashboard-tmux.png"), full_page=True)

            # 10. The canceled worker's panel: canceled, "now" says it ended, nothing to steer.
            slow.click()
            page.wait_for_selector("#panel-meta [data-panel-status=canceled]")
            page.wait_for_selector("#panel-meta [data-panel-now=ended]")
            assert page.is_disabled("#steer-form input[name=text]")

            # 11. The shell's panel follows its cancel (asked twice): canceled, "now" ended, no screen, no attach.
            shell.click()
            page.wait_for_selector("#panel-meta [data-panel-status=running]")
            page.click("#cancel-session")
            page.wait_for_selector("#cancel-session.armed:has-text('confirm cancel?')")
            assert api.get(f"/api/sessions/{shell_id}").json()["status"] == "running"
            page.click("#cancel-session")
            page.wait_for_selector("#panel-meta [data-panel-status=canceled]", timeout=20_000)
            page.wait_for_selector("#panel-meta [data-panel-now=ended]")
            assert page.is_hidden("#screen")
            assert page.locator("#panel-meta button[data-copy]").count() == 0
            page.wait_for_selector(f"tr[data-session-row='{shell_id}'][data-status=canceled]")
            assert shell.locator("button[data-copy]").count() == 0
            assert page.is_disabled("#steer-form input[name=text]")

            # 12. The objective's own view once the team is done: summary, notes, artifacts, questions, picture.
            done = page.locator("tr.objective", has=page.locator(".st-done"))
            done.wait_for(timeout=30_000)
            done.locator("button.otitle").click()
            page.wait_for_selector("#objective-body [data-objective-status=done]")
            assert "The parser is ported" in page.inner_text("#objective-summary")
            assert "canceled by the user" in page.inner_text("#objective-notes")
            assert "porting plan" in page.inner_text("#objective-artifacts")
            bars = page.eval_on_selector_all("svg.timeline rect.bar", "els => els.map((e) => e.dataset.status)")
            assert sorted(bars) == ["canceled", "canceled", "completed", "completed"], bars
            kinds = page.eval_on_selector_all("svg.timeline .marker", "els => els.map((e) => e.dataset.kind)")
            assert {"pr", "question", "answer"} <= set(kinds), kinds
            assert page.locator("svg.cost polyline.cost").count() == 1
            # its time axis: no two ticks read alike; its legend keys each status to a colour, no two alike
            ticks = page.eval_on_selector_all("svg.timeline text.tick", "els => els.map((e) => e.textContent)")
            assert len(ticks) >= 2 and len(set(ticks)) == len(ticks), ticks
            assert page.evaluate("async () => (await import('/static/timeline.js')).tickLabel(90)") == "+1m 30s"
            swatches = page.eval_on_selector_all(
                "#objective-chart [data-legend] i",
                "els => els.map((e) => [e.parentElement.dataset.legend, getComputedStyle(e).backgroundColor])",
            )
            assert [k for k, _ in swatches] == ["running", "waiting", "completed", "failed", "canceled"], swatches
            assert len({c for _, c in swatches}) == len(swatches), swatches
            at_every_width(page, "objective")
            page.screenshot(path=str(ARTIFACTS / "dashboard-objective.png"), full_page=True)
        finally:
            browser.close()
    assert problems == [], "\n".join(problems)
    for name in ("dashboard-1280", "dashboard-1920", "objective-1280", "dashboard-objective"):
        assert (ARTIFACTS / f"{name}.png").stat().st_size > 20_000, name
