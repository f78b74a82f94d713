"""scythe-engine's `BaseExperiment(...).allocate(...)`, kept thin over `scythe.allocate`.

Upstream returns `(run, ref)` and callers wait with `ref.result()`; here the embedded backend has
already finished when `allocate` returns, so both halves carry the finished `RunResult`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from scythe.errors import ScytheError
from scythe.registry import Experiment
from scythe.run.allocation import RunResult, allocate
from scythe.run.versions import VersionStrategy
from scythe.scatter_gather import RecursionMap
from scythe.specs import ExperimentInputSpec


class FinishedRef(BaseModel):
    """Stands in for upstream's Hatchet run ref: `result()` returns the finished run."""

    run: RunResult

    def result(self) -> RunResult:
        return self.run

    async def aio_result(self) -> RunResult:
        return self.run


class BaseExperiment:
    """`BaseExperiment(runnable=fn, run_name=None)`; `experiment=` is accepted as before 1.1."""

    def __init__(
        self,
        runnable: Experiment[Any, Any] | None = None,
        run_name: str | None = None,
        *,
        experiment: Experiment[Any, Any] | None = None,
        storage_settings: Any = None,
    ) -> None:
        chosen = runnable or experiment
        if not isinstance(chosen, Experiment):
            raise ScytheError("BaseExperiment needs runnable=<a function decorated with Register()>")
        self.experiment = dataclasses.replace(chosen, name=run_name) if run_name else chosen

    def allocate(
        self,
        specs: Sequence[ExperimentInputSpec] | ExperimentInputSpec,
        version: VersionStrategy | str = "bumpmajor",
        overwrite_sort_index: bool = True,
        overwrite_experiment_id: bool = True,
        recursion_map: RecursionMap | None = None,
        s3_client: Any = None,
    ) -> tuple[RunResult, FinishedRef]:
        """Validate, store, run and gather `specs` (always re-indexed 0..n-1, as upstream does)."""
        rows = [specs] if isinstance(specs, ExperimentInputSpec) else list(specs)
        result = allocate(self.experiment, rows, version=version)
        return result, FinishedRef(run=result)


__all__ = ["BaseExperiment", "FinishedRef"]
