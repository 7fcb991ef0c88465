"""The benchmark suite still works: every figure runs at its smoke size and produces a number, and the JSON
holds the table. Targets are not asserted: benchmarks are not timed tests (see docs/performance.md)."""

from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess
import sys

from bench.__main__ import FIGURES

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_every_figure_runs_at_smoke_size_and_produces_a_number(tmp_path):
    out = tmp_path / "smoke.json"
    env = {**os.environ, "ORCHA_BENCH_CACHE": str(tmp_path / "cache")}
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--json", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    results = json.loads(out.read_text())
    assert results["smoke"] is True
    assert results["machine"]["cores"] and results["machine"]["sqlite"]
    speed = results["machine"]["reference_loop_s"]  # the machine's speed, before and after the run
    assert 0 < speed["before"] < 60 and 0 < speed["after"] < 60
    assert "this machine's speed: a pure-Python loop" in done.stdout
    header = results["table"].splitlines()[0].split()
    assert header == ["figure", "orcha", "baseline", "ratio", "target", "verdict"]
    figures = {f["figure"]: f for f in results["figures"]}
    assert list(figures) == [f[0] for f in FIGURES]
    for figure in figures.values():
        assert figure["verdict"] in ("pass", "FAIL"), figure
        assert isinstance(figure["orcha"], int | float), figure
        assert f"{figure['figure']} {figure['title']}" in results["table"]
    assert "pass" in done.stdout or "FAIL" in done.stdout  # the table is printed too


def test_the_micro_benchmarks_run_as_the_readme_shows_them():
    """``bench/store_life.py``, ``bench/spawn_cost.py`` and ``bench/tmux_burst.py`` (README, "Benchmarks"), small."""
    for script, sessions, wanted in (
        ("bench/store_life.py", "60", r"60 sessions: \d+ µs a session through the store"),
        ("bench/spawn_cost.py", "8", r"orcha +\d+ sessions/s; a session: trio thread [\d.]+ ms, children [\d.]+ ms"),
        ("bench/tmux_burst.py", "2000", r"2,000 lines: captured [\d.]+ s, delivered [\d.]+ s .* in order: True"),
    ):
        done = subprocess.run(
            [sys.executable, script, sessions],
            cwd=ROOT,
            env=os.environ,  # (their own temporary folders, removed after: a tmux socket's path stays short)
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr[-4000:]
        assert re.search(wanted, done.stdout), done.stdout
