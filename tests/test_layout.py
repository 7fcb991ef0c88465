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
    if package not in EDGE_PACKAGES and path != ROOT / "__main__.py":  # only `python -m orcha` composes
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


ACTORS = ROOT / "actors"
COMPOSITION_ROOT = ACTORS / "orchestrator.py"


def _all_imports(path: pathlib.Path) -> set[str]:
    """Every module ``path`` imports, relative imports resolved, ``TYPE_CHECKING`` blocks included."""
    names = _imports(path)
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize("path", sorted(ACTORS.glob("*.py")), ids=lambda p: p.name)
def test_no_actor_module_knows_the_composition_root_or_the_operations(path):
    """Components are handed what they use; none reaches for the Orchestrator or the Operations."""
    if path == COMPOSITION_ROOT:
        return
    forbidden = {"orcha.actors.orchestrator", "orcha.actors.operations"}
    if path.name == "operations.py":
        forbidden = {"orcha.actors.orchestrator"}
    found = {name for name in _all_imports(path) if any(name == f or name.startswith(f + ".") for f in forbidden)}
    assert not found, f"actors/{path.name} imports {found}"


@pytest.mark.parametrize("path", sorted((ROOT / "io").rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_io_imports_nothing_from_the_actors(path):
    found = {name for name in _all_imports(path) if name.startswith("orcha.actors")}
    assert not found, f"{path.relative_to(ROOT)} imports {found}"


DELEGATES = {"self", "self._ops"}
"""Operations and tools have methods of these names: they ask the objective's actor, which writes."""


def _status_writers() -> dict[str, set[str]]:
    """Module → the store calls in it that move a session's, an objective's or a target's status (direct calls
    and ``call(StorePort.…)``)."""
    movers = {"update_session_status", "finish_objective", "set_target_status"}
    writers: dict[str, set[str]] = {}
    for path in MODULES:
        if "io/store" in str(path) or path.name == "store_port.py":
            continue  # the store implements the move; the question is who asks for it
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Attribute) and node.attr in movers and ast.unparse(node.value) not in DELEGATES:
                writers.setdefault(str(path.relative_to(ROOT)), set()).add(node.attr)
    return writers


def test_each_status_has_one_writer_its_actor():
    """Every place that moves a session, an objective or a target, listed: only its own actor."""
    assert _status_writers() == {
        "actors/session.py": {"update_session_status"},
        "actors/objective.py": {"finish_objective"},
        "actors/target.py": {"set_target_status"},
    }
    source = (ACTORS / "session.py").read_text()
    assert source.count("update_session_status") == 1  # inside SessionActor._move, announced right after
    store = (ROOT / "io" / "store" / "_sessions.py").read_text()
    assert store.count("move_session(tx,") == 1  # and in the store, only update_session_status moves a session


ACTOR_LAYERS = {
    "mailbox": 1, "messages": 1, "changes": 1, "turns": 1, "deps": 1,
    "questions": 2, "limits": 2, "endpoints": 2, "transcript_buffer": 2, "team_news": 2, "workspaces": 2,
    "pull_requests": 2, "pr_monitor": 2, "tools": 2, "tool_specs": 1,
    "session": 3, "session_host": 3, "session_events": 3, "session_pauses": 3, "session_manager": 3,
    "session_restarts": 3,
    "session_run": 2, "process_sweep": 2,
    "objective": 3, "target": 3, "scheduler": 3,
    "operations": 4,
    "orchestrator": 5,
}  # fmt: skip
"""The layers of ``actors/`` as docs/design.md draws them: a module imports only from its layer or below."""


def test_every_actor_module_has_a_layer():
    modules = {p.stem for p in ACTORS.glob("*.py") if p.stem != "__init__"}
    assert modules == set(ACTOR_LAYERS)


@pytest.mark.parametrize("name", sorted(ACTOR_LAYERS))
def test_actor_modules_import_only_from_their_layer_or_below(name):
    imported = {n.split(".")[2] for n in _all_imports(ACTORS / f"{name}.py") if n.startswith("orcha.actors.")}
    above = {m for m in imported if m in ACTOR_LAYERS and ACTOR_LAYERS[m] > ACTOR_LAYERS[name]}
    assert not above, f"actors/{name} (layer {ACTOR_LAYERS[name]}) imports {above} from above it"
