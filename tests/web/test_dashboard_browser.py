"""The dashboard in headless Chromium (Debian's chromium driven by Playwright): a user's whole loop."""

from __future__ import annotations

from orcha.agents.fake import Wait
from orcha.model import SessionRole
from tests.web.browser import ARTIFACTS, FLAGS, ServerThread, wait_until
from tests.web.harness import quick_team

TOKEN = "browser-test-token-0123456789"


def unhurried_team(request):
    """The quick team, with workers that take a few seconds: long enough for a person to answer the question."""
    steps = list(quick_team(request))
    if request.role is SessionRole.WORKER:
        steps.insert(1, Wait(4))
    return steps


def test_create_watch_the_team_answer_and_screenshot(tmp_path, chromium):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with ServerThread(tmp_path, token=TOKEN, scripts=unhurried_team) as server, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 900})
            page.goto(server.url + "/")  # no login yet: a page that says how to get one
            assert "orcha token" in page.inner_text("#login")
            page.goto(f"{server.url}/?token={TOKEN}")  # the login URL `orcha serve` prints
            assert "token=" not in page.url  # redirected, the token gone from the address bar
            page.wait_for_selector("#conn.live")
            page.fill("#new-objective-form input[name=title]", "Port subsystem to Rust")
            page.fill("#new-objective-form input[name=prompt]", "Split it in two and open a PR for each part.")
            page.click("#new-objective-form button[type=submit]")

            page.wait_for_selector("tr[data-role=manager]")
            wait_until(page, "() => document.querySelectorAll('tr[data-role=worker]').length === 2")
            page.wait_for_selector(".question")  # while the team works (an objective's end closes its questions)
            assert "Which license?" in page.inner_text(".question")
            page.fill(".question input[name=answer]", "MIT, please")
            page.click(".question button[type=submit]")
            page.wait_for_selector("text=nothing needs you")

            wait_until(page, "() => document.querySelectorAll('a.pr-link').length === 2")
            assert page.locator("#prs a.pr-url").count() == 2

            page.click("tr[data-role=worker] >> nth=0")
            page.wait_for_selector("#transcript .line")
            page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
        finally:
            browser.close()
        [question] = server.store.list_questions()
        assert (str(question.status), question.answer) == ("answered", "MIT, please")
    assert (ARTIFACTS / "dashboard.png").stat().st_size > 10_000
