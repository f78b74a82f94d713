"""The no-op experiment, written against upstream scythe-engine (PyPI), for its own venv.

Runs only under bench/.venvs/upstream (never on the repository's PYTHONPATH, where `scythe` is
this project). Mirrors bench/experiments.py: one float in, the same float out (`noop`), or after sleeping that
many seconds (`sleep`).
"""

import time

from pydantic import Field

from scythe.base import ExperimentInputSpec, ExperimentOutputSpec
from scythe.registry import ExperimentRegistry


class PointInput(ExperimentInputSpec):
    """One point of a synthetic sweep."""

    x: float = Field(ge=0, le=1e12, description="Any number.")


class PointOutput(ExperimentOutputSpec):
    """What a point yields."""

    y: float = Field(description="x, passed through.")


@ExperimentRegistry.Register(name="bench_upstream_noop", retries=0)
def noop(input_spec: PointInput) -> PointOutput:
    """Returns at once: all that is measured is the framework."""
    return PointOutput(y=input_spec.x)


@ExperimentRegistry.Register(name="bench_upstream_sleep", retries=0)
def sleep(input_spec: PointInput) -> PointOutput:
    """Sleeps x seconds: a spec that takes time but no CPU (upstream's benchmark shape)."""
    time.sleep(input_spec.x)
    return PointOutput(y=input_spec.x)
