"""The experiments of issue 12's queue and robustness tests (`integration.item_12_experiments:…`).

A spec sleeps `seconds`; with `hang` it first appends its process id to `marker` (so a test can
see that a worker has started it) and then sleeps for ten minutes, long enough to be killed.
`lingering` is served by any test's workers; `forsaken` and `unserved`, the same function under
other names, only by the lost-worker test's and the queue test's: no worker an earlier test left
running can take (and keep) the hanging batch, or take a batch meant to wait for a late worker.
"""

from __future__ import annotations

import os
import time

from pydantic import Field

from scythe.base import ExperimentInputSpec, ExperimentOutputSpec
from scythe.registry import ExperimentRegistry


class LingerInput(ExperimentInputSpec):
    """A spec that takes a while, or hangs until its worker is killed."""

    x: float = Field(ge=0, le=1000)
    seconds: float = Field(default=0.0, ge=0, le=60)
    hang: bool = False
    marker: str = Field(default="", description="File a hanging spec appends its pid to.")


class LingerOutput(ExperimentOutputSpec):
    y: float


@ExperimentRegistry.Register(name="item12_lingering", timeout=900)
def lingering(input_spec: LingerInput) -> LingerOutput:
    """x + 1, after `seconds`; a hanging spec never returns on its own."""
    if input_spec.hang:
        with open(input_spec.marker, "a") as fh:
            fh.write(f"{os.getpid()}\n")
        time.sleep(600)
    time.sleep(input_spec.seconds)
    return LingerOutput(y=input_spec.x + 1)


@ExperimentRegistry.Register(name="item12_forsaken", timeout=900)
def forsaken(input_spec: LingerInput) -> LingerOutput:
    """`lingering`, for the lost-worker test alone."""
    return lingering.fn(input_spec)


@ExperimentRegistry.Register(name="item12_unserved", timeout=900)
def unserved(input_spec: LingerInput) -> LingerOutput:
    """`lingering`, for the queue test alone (no worker serves it before the test starts one)."""
    return lingering.fn(input_spec)
