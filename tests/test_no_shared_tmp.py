"""No fixed names in a shared temporary folder: orcha writes under the user's own folders or where the user
chose, never ``/tmp/orcha-…`` that another local user could create first."""

from __future__ import annotations

import ast
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent / "orcha"
SHARED_TMP = re.compile(r"(?<![\w.~-])/(?:var/|usr/)?tmp(?![\w.-])")
SHARED_TMP_CALLS = {"gettempdir", "mktemp", "mkdtemp", "NamedTemporaryFile", "TemporaryDirectory"}


def _code_strings(tree: ast.AST) -> list[tuple[int, str]]:
    """String literals of the code (f-string parts included), without docstrings and other bare strings."""
    bare = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr)}
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in bare
    ]


def _calls(tree: ast.AST) -> list[tuple[int, str]]:
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            names.append((node.lineno, name))
    return names


@pytest.mark.parametrize("path", sorted(ROOT.rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_names_a_path_in_a_shared_temporary_folder(path):
    tree = ast.parse(path.read_text(), str(path))
    found = [f"line {line}: {text!r}" for line, text in _code_strings(tree) if SHARED_TMP.search(text)]
    found += [f"line {line}: {name}()" for line, name in _calls(tree) if name in SHARED_TMP_CALLS]
    assert not found, f"{path.relative_to(ROOT)} names a shared temporary path: {found}"


def test_the_check_sees_what_it_should():
    tree = ast.parse(
        '"""Not in /tmp."""\nA = "/tmp/orcha-mcp"\nB = f"{x}/var/tmp"\nC = "/tmpl/ok"\ntempfile.mkdtemp()\n'
    )
    assert [text for _, text in _code_strings(tree) if SHARED_TMP.search(text)] == ["/tmp/orcha-mcp", "/var/tmp"]
    assert [name for _, name in _calls(tree) if name in SHARED_TMP_CALLS] == ["mkdtemp"]
