"""The house rules: the pure core imports no edge, and only the edges import the edge libraries."""

from __future__ import annotations

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent / "orcha"
EDGE_PACKAGES = {"io", "web", "cli"}
EDGE_LIBRARIES = {
    "apsw": {"io"},
    "asyncssh": {"io"},
    "trio_asyncio": {"io"},
    "quart": {"web"},
    "quart_trio": {"web"},
    "hypercorn": {"web"},
    "mcp": {"web"},
}


def _imports(path: pathlib.Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _package_of(path: pathlib.Path) -> str:
    relative = path.relative_to(ROOT).parts
    return relative[0] if len(relative) > 1 else ""


MODULES = sorted(ROOT.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_dependencies_point_inward(path):
    package = _package_of(path)
    imported = _imports(path)
    if package not in EDGE_PACKAGES and path.name != "__main__.py":
        edges = {name for name in imported if name.split(".")[:2] in ([["orcha", e] for e in EDGE_PACKAGES])}
        assert not edges, f"{path.name} is core but imports {edges}"
    for name in imported:
        allowed = EDGE_LIBRARIES.get(name.split(".")[0])
        if allowed is not None:
            assert package in allowed, f"{path.relative_to(ROOT)} imports {name}; only {allowed} may"


def test_the_layout_has_every_package_of_the_design_card():
    for package in ("actors", "supervisors", "io", "web"):
        assert (ROOT / package / "__init__.py").exists()
    assert (ROOT.parent / "docs" / "design.md").exists()
