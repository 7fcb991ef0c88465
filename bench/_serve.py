"""``orcha serve`` with the benchmarks' printing agents: ``python -m bench._serve [orcha serve arguments]``.

Everything is orcha's own ``serve`` (the store, the orchestrator, hypercorn, signals, the database lock, the
token); only the fake agents are swapped for :class:`bench._agents.Printer`, whose sessions print what their
prompt's plan says. A resumed session (after a restart) prints nothing, so a database of live work stays as
it is while a figure measures it.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from bench._agents import Printer


def main() -> int:
    from orcha.cli import _serve, main

    def printers(args: argparse.Namespace, progress: Any = None) -> dict[str, Any]:
        return {name: Printer(name) for name in _serve.FAKE_AGENTS}

    _serve.build_providers = printers
    return main(["serve", *sys.argv[1:]])


if __name__ == "__main__":
    sys.exit(main())
