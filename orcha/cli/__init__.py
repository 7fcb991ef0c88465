"""The ``orcha`` command line: the outermost edge, which wires the core to its edges."""

from orcha.cli._main import main

__all__ = ["main"]
