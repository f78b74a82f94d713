"""Experiments for issue 14's memoisation and re-run tests; importable as `memo_experiments:<name>`.

Each execution leaves a file in `SCYTHE_TEST_EXECUTIONS` (a folder the test owns), so a test
counts what ran, whichever process ran it.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pandas as pd
from pydantic import Field

from scythe.base import ExperimentInputSpec, ExperimentOutputSpec, FileReference
from scythe.registry import ExperimentRegistry

EXECUTIONS = "SCYTHE_TEST_EXECUTIONS"  # where each execution leaves a file
FIXED = "SCYTHE_TEST_FIXED"  # set: `fixable` no longer fails


def executed(folder: Path) -> list[int]:
    """The sort_index of every execution since the last call (the files are taken away)."""
    ran = sorted(int(p.name.split("-")[0]) for p in folder.iterdir())
    for p in folder.iterdir():
        p.unlink()
    return ran


class SizedInput(ExperimentInputSpec):
    x: float = Field(ge=0, le=1000)
    n: int = Field(default=1, ge=1, le=5)
    weather: FileReference | None = None


class SizedOutput(ExperimentOutputSpec):
    y: float
    size: int = Field(description="bytes of the weather file (0 without one)")


def _executed(spec: SizedInput) -> None:
    folder = os.environ.get(EXECUTIONS)
    if folder:
        (Path(folder) / f"{spec.sort_index:06d}-{uuid.uuid4().hex}").touch()


@ExperimentRegistry.Register(name="counted")
def counted(input_spec: SizedInput) -> SizedOutput:
    """x², a series of n rows, and the size of the weather file."""
    _executed(input_spec)
    size = input_spec.fetch(input_spec.weather).stat().st_size if input_spec.weather else 0
    series = pd.DataFrame({"step": range(input_spec.n), "value": [input_spec.x] * input_spec.n})
    return SizedOutput(y=input_spec.x**2, size=size, dataframes={"series": series.set_index("step")})


@ExperimentRegistry.Register(name="fixable", version="1.0.0")
def fixable(input_spec: SizedInput) -> SizedOutput:
    """Fails for x >= 50 until the "fix" (the SCYTHE_TEST_FIXED variable) is in."""
    _executed(input_spec)
    if input_spec.x >= 50 and not os.environ.get(FIXED):
        raise ValueError(f"x = {input_spec.x} is not handled yet")
    return SizedOutput(y=input_spec.x**2, size=0)
