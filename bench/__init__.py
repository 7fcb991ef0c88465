"""orcha's benchmark suite: ``scripts/bench`` (``python -m bench``) runs every figure and prints one table.

Each figure is a ratio against a raw baseline measured in the same run on the same machine, or a count, so it
holds on a noisy machine; see ``docs/performance.md``.
"""
