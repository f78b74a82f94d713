"""The benchmark experiments: a no-op, one that burns 50 ms of CPU per spec, one that sleeps x s.

Importable as `bench.experiments:noop` / `bench.experiments:spin` by workers, and called directly
(`noop.fn`, `spin.fn`) by the plain-process-pool baselines, so every contender runs the same code.
"""

from __future__ import annotations

import time

from pydantic import Field

from scythe.base import ExperimentInputSpec, ExperimentOutputSpec
from scythe.registry import ExperimentRegistry

SPIN_SECONDS = 0.05


class PointInput(ExperimentInputSpec):
    """One point of a synthetic sweep."""

    x: float = Field(ge=0, le=1e12, description="Any number.")


class PointOutput(ExperimentOutputSpec):
    """What a point yields."""

    y: float = Field(description="x, passed through.")


@ExperimentRegistry.Register(name="bench_noop", retries=0, timeout=60)
def noop(input_spec: PointInput) -> PointOutput:
    """Returns at once: all that is measured is the framework."""
    return PointOutput(y=input_spec.x)


def burn_cpu(seconds: float = SPIN_SECONDS) -> None:
    """Spin until this process has used `seconds` of CPU (not wall) time."""
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


@ExperimentRegistry.Register(name="bench_spin", retries=0, timeout=60)
def spin(input_spec: PointInput) -> PointOutput:
    """50 ms of pure CPU work per spec."""
    burn_cpu()
    return PointOutput(y=input_spec.x)


@ExperimentRegistry.Register(name="bench_sleep", retries=0, timeout=60)
def sleep(input_spec: PointInput) -> PointOutput:
    """Sleeps `x` seconds: a slot is busy without using a core, so 256 slots fit on 2 cores."""
    time.sleep(input_spec.x)
    return PointOutput(y=input_spec.x)


@ExperimentRegistry.Register(name="bench_sleep_wide", retries=0, timeout=60)
def sleep_wide(input_spec: PointInput) -> PointOutput:
    """`sleep` under a name of its own, so another worker (bench/shape.py's `--slots`) serves it."""
    return sleep.fn(input_spec)


def call_noop(spec: PointInput) -> PointOutput:
    """`noop` as a plain picklable function, for `ProcessPoolExecutor.map`."""
    return noop.fn(spec)


def call_spin(spec: PointInput) -> PointOutput:
    return spin.fn(spec)
