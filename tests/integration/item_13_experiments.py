"""Experiments of issue 13's Slurm tests; importable as `integration.item_13_experiments:<name>`."""

from __future__ import annotations

import time
from pathlib import Path

from scythe.base import ExperimentInputSpec, ExperimentOutputSpec
from scythe.registry import ExperimentRegistry


class NapInput(ExperimentInputSpec):
    """A spec that takes `seconds`, and waits as long as the file `hold` exists (a test's knob)."""

    x: int
    seconds: float = 0.0
    hold: str = ""
    trace: str = ""


class NapOutput(ExperimentOutputSpec):
    y: int


@ExperimentRegistry.Register(name="napper", timeout=600)
def napper(input_spec: NapInput) -> NapOutput:
    """x², after a nap; every execution is appended to `trace` (so a test counts re-runs)."""
    if input_spec.trace:
        with open(input_spec.trace, "a") as fh:
            fh.write(f"{input_spec.sort_index}\n")
    time.sleep(input_spec.seconds)
    while input_spec.hold and Path(input_spec.hold).exists():
        time.sleep(0.2)
    return NapOutput(y=input_spec.x**2)
