"""The dashboard's own files: every file the page loads is served, typed and guarded; nothing else is."""

from __future__ import annotations

import re
from importlib import resources

import httpx

from orcha.web.app import PAGE_CSP, STATIC
from tests.web.harness import served

TOKEN = "static-test-token-0123456789abcdef"


def _static_dir():
    return resources.files("orcha.web").joinpath("static")


def referenced() -> set[str]:
    """The files dashboard.html and its modules load from /static/."""
    found: set[str] = set()
    todo = ["dashboard.html"]
    while todo:
        text = _static_dir().joinpath(todo.pop()).read_text(encoding="utf-8")
        names = re.findall(r'(?:src|href)="/static/([\w.]+)"', text) + re.findall(r'from "\./([\w.]+)"', text)
        for name in names:
            if name not in found:
                found.add(name)
                todo.append(name)
    return found


def test_every_file_the_page_loads_is_listed_and_every_listed_file_exists():
    on_disk = {p.name for p in _static_dir().iterdir() if p.name.endswith((".js", ".css"))}
    assert referenced() == set(STATIC) == on_disk
    assert "<script>" not in _static_dir().joinpath("dashboard.html").read_text(encoding="utf-8")  # CSP: no inline


async def test_the_page_and_its_files_are_served_typed_under_a_strict_policy(tmp_path):
    async with served(tmp_path, token=TOKEN) as srv:
        page = await srv.client.get("/")
        assert page.status_code == 200 and page.headers["content-security-policy"] == PAGE_CSP
        assert "script-src 'self'" in PAGE_CSP and "unsafe" not in PAGE_CSP
        for name, content_type in STATIC.items():
            response = await srv.client.get(f"/static/{name}")
            assert response.status_code == 200, name
            assert response.headers["content-type"] == content_type
            assert response.headers["x-content-type-options"] == "nosniff"
            assert response.headers["content-security-policy"] == PAGE_CSP
            assert response.text == _static_dir().joinpath(name).read_text(encoding="utf-8")


async def test_nothing_else_is_served_from_static_and_nothing_without_a_login(tmp_path):
    async with served(tmp_path, token=TOKEN) as srv, httpx.AsyncClient(base_url=srv.url) as anonymous:
        for path in ("/static/nope.js", "/static/dashboard.html", "/static/login.html", "/static/..%2Fapp.py"):
            response = await srv.client.get(path)
            assert response.status_code == 404, path
            assert response.json()["error"]["code"] == "not_found"
        assert (await srv.client.get("/static/" + "x" * 5000)).status_code in (404, 414)
        refused = await anonymous.get("/static/dashboard.js")
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthorized"
        icon = await anonymous.get("/favicon.ico")  # browsers ask before any login: never a 404
        assert icon.status_code == 200 and icon.headers["content-type"] == "image/svg+xml"
        assert icon.text.startswith("<svg")
