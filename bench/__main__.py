"""``python -m bench [--smoke] [--only 1,3b,...] [--json PATH]``: run the figures, print one table, write JSON.

Without ``--json``, a full run writes ``bench/results/<UTC timestamp>.json`` and merges its figures into
``bench/results/latest.json``; a smoke run writes ``bench/results/<UTC timestamp>-smoke.json`` only. With
``--json PATH`` the results go to PATH alone. ``--profile DIR`` records each figure with py-spy (this process
and the servers it starts) into ``DIR/fig-<id>.speedscope.json``. The exit status is 1 when a figure could not
be measured (an error), never because a target was missed: benchmarks are not timed tests.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Iterator, Sequence
from typing import Any

from bench._result import ERROR, NOT_BUILT, REFERENCE_LOOP, Result, machine, reference_loop_seconds, table

FIGURES: tuple[tuple[str, str, str, str], ...] = (
    ("1", "ingest", "fig_01_ingest", "≥ 0.20"),
    ("2", "CPU, 1,000 live sessions", "fig_02_cpu", "≤ 0.25 core"),
    ("3", "stream latency", "fig_03_latency", "p99 ≤ 25 ms"),
    ("3b", "burst", "fig_03b_burst", "≤ 1.5"),
    ("4", "small dashboard", "fig_04_dashboard", "≤ 1.2, same size"),
    ("4b", "dashboard vs history", "fig_04b_history", "≤ 1.2, ≤ 128 KB"),
    ("5", "cold start", "fig_05_cold_start", "≤ 1.5 and ≤ 2 s"),
    ("6", "scale, 2,000 sessions", "fig_06_scale", "≤ 400 MB; p99 ≤ 10 ms"),
    ("7", "process spawn", "fig_07_spawn", "≥ 0.5"),
    ("8", "cancel", "fig_08_cancel", "p99 ≤ 50 ms; ≤ grace + 50 ms"),
    ("9", "MCP tool call", "fig_09_mcp", "≤ 3"),
    ("10", "team throughput", "fig_10_team", "overhead ≤ 10%"),
    ("S", "storage", "fig_S_storage", "≤ 1.3"),
)
"""Every figure of issue 16: id, title, module, target. A module that does not exist yet is "not built"."""

RESULTS = pathlib.Path(__file__).resolve().parent / "results"
PROFILE: pathlib.Path | None = None


@contextlib.contextmanager
def profiled(folder: pathlib.Path | None, figure: str) -> Iterator[None]:
    """With ``folder``, py-spy samples this process and its children (the servers) while the figure runs,
    into ``<folder>/fig-<id>.speedscope.json`` (open it at https://www.speedscope.app)."""
    if folder is None:
        yield
        return
    folder.mkdir(parents=True, exist_ok=True)
    spy = shutil.which("py-spy", path=str(pathlib.Path(sys.executable).parent)) or shutil.which("py-spy")
    if spy is None:
        raise SystemExit("bench: --profile needs py-spy (.venv/bin/python -m pip install py-spy)")
    out = folder / f"fig-{figure}.speedscope.json"
    argv = [spy, "record", "--pid", str(os.getpid()), "--subprocesses", "--rate", "200", "--format", "speedscope"]
    recorder = subprocess.Popen([*argv, "--output", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(0.5)  # attached before the figure starts
    try:
        yield
    finally:
        recorder.send_signal(signal.SIGINT)
        recorder.wait(timeout=120)
        print(f"   profile: {out}", file=sys.stderr)


def run_figure(figure: str, title: str, module_name: str, target: str, *, smoke: bool) -> Result:
    try:
        module = importlib.import_module(f"bench.{module_name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"bench.{module_name}":
            raise
        return Result(
            figure=figure, title=title, orcha=None, baseline=None, ratio=None, unit="", target=target,
            passed=None, status=NOT_BUILT,
        )  # fmt: skip
    started = time.perf_counter()
    try:
        with profiled(PROFILE, figure):
            result: Result = module.run(smoke)
    except Exception as exc:
        traceback.print_exc()
        return Result(
            figure=figure, title=title, orcha=None, baseline=None, ratio=None, unit="", target=target,
            passed=None, status=ERROR, notes=f"{type(exc).__name__}: {exc}"[:500],
            seconds=time.perf_counter() - started,
        )  # fmt: skip
    import attrs

    return attrs.evolve(result, seconds=time.perf_counter() - started)


def selected(only: str | None) -> list[tuple[str, str, str, str]]:
    if not only:
        return list(FIGURES)
    wanted = [name.strip() for name in only.split(",") if name.strip()]
    known = {f[0] for f in FIGURES}
    unknown = [name for name in wanted if name not in known]
    if unknown:
        raise SystemExit(f"bench: unknown figure(s) {', '.join(unknown)}; known: {', '.join(f[0] for f in FIGURES)}")
    return [f for f in FIGURES if f[0] in wanted]


def document(
    results: Sequence[Result],
    *,
    smoke: bool,
    started: datetime.datetime,
    seconds: float,
    reference: tuple[float, float],
) -> dict[str, Any]:
    return {
        "started": started.isoformat(timespec="seconds"),
        "seconds": round(seconds, 1),
        "smoke": smoke,
        "machine": machine()
        | {"reference_loop_s": {"before": round(reference[0], 3), "after": round(reference[1], 3)}},
        "columns": ["figure", "orcha", "baseline", "ratio", "target", "verdict"],
        "table": table(results),
        "figures": [r.to_json() | {"measured_at": started.isoformat(timespec="seconds")} for r in results],
    }


def merge_latest(path: pathlib.Path, fresh: dict[str, Any]) -> dict[str, Any]:
    """``latest.json`` keeps each figure's latest full measurement (a partial run replaces only its own)."""
    try:
        previous = json.loads(path.read_text())
    except (OSError, ValueError):
        return fresh
    if previous.get("smoke"):
        return fresh
    by_id = {f["figure"]: f for f in previous.get("figures", [])}
    for figure in fresh["figures"]:
        if figure["verdict"] != "not built" or figure["figure"] not in by_id:
            by_id[figure["figure"]] = figure
    order = [f[0] for f in FIGURES]
    merged = dict(fresh)
    merged["figures"] = sorted(by_id.values(), key=lambda f: order.index(f["figure"]) if f["figure"] in order else 99)
    merged["table"] = table([Result.from_json(f) for f in merged["figures"]])
    return merged


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (seconds): proves each figure still works")
    parser.add_argument("--only", help="comma-separated figure ids, e.g. 1,3b,S")
    parser.add_argument("--json", type=pathlib.Path, help="write the results here (and nowhere else)")
    parser.add_argument("--profile", type=pathlib.Path, help="py-spy each figure into this folder (speedscope)")
    args = parser.parse_args(argv)
    global PROFILE
    PROFILE = args.profile
    started = datetime.datetime.now(datetime.UTC)
    began = time.perf_counter()
    reference_before = reference_loop_seconds()
    results = []
    for figure, title, module_name, target in selected(args.only):
        print(f"== {figure} {title}{' (smoke)' if args.smoke else ''}", file=sys.stderr, flush=True)
        result = run_figure(figure, title, module_name, target, smoke=args.smoke)
        results.append(result)
        print(f"   {result.verdict} in {result.seconds:.1f}s: {table([result]).splitlines()[-1]}", file=sys.stderr)
    seconds = time.perf_counter() - began
    reference = (reference_before, reference_loop_seconds())
    print(table(results))
    print(f"\n{len(results)} figures in {seconds:.0f} s{' (smoke sizes)' if args.smoke else ''}")
    print(
        f"this machine's speed: a pure-Python loop of {REFERENCE_LOOP:,} additions took {reference[0]:.2f} s"
        f" before the run and {reference[1]:.2f} s after (lower is faster; latencies and cores scale with it)"
    )
    doc = document(results, smoke=args.smoke, started=started, seconds=seconds, reference=reference)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    else:
        RESULTS.mkdir(exist_ok=True)
        stamp = started.strftime("%Y%m%dT%H%M%SZ") + ("-smoke" if args.smoke else "")
        (RESULTS / f"{stamp}.json").write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
        if not args.smoke:
            latest = RESULTS / "latest.json"
            merged = merge_latest(latest, doc)
            latest.write_text(json.dumps(merged, indent=2, ensure_ascii=False) + "\n")
    return 1 if any(r.status == ERROR for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
