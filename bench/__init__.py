"""Benchmarks: Scythe against the physical limit and against what a user would pick instead.

`uv run python -m bench.run --size full` (or `make bench`) runs them all; `--only NAME` runs one.
Results and the figures they were measured at are in bench/RESULTS.md.
"""
