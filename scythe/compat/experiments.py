"""scythe-engine's `BaseExperiment(...).allocate(...)`, kept thin over `scythe.allocate`.

Upstream returns `(run, ref)` and callers wait with `ref.result()`; here `allocate` has already
waited when it returns (on Hatchet too: `ref` carries the finished `RunResult`). Every argument
is either honoured (`recursion_map` shapes the Hatchet fan-out tree) or refused with an error
that names it (`storage_settings`, `s3_client`, `overwrite_*=False`, `recursion_map.path`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from scythe.backends.base import RecursionMap
from scythe.errors import ScytheError
from scythe.registry import Experiment
from scythe.run.allocation import RunResult, allocate
from scythe.run.layout import store_name
from scythe.run.versions import VersionStrategy
from scythe.specs import ExperimentInputSpec


class FinishedRef(BaseModel):
    """Stands in for upstream's Hatchet run ref: `result()` returns the finished run."""

    run: RunResult

    def result(self) -> RunResult:
        return self.run

    async def aio_result(self) -> RunResult:
        return self.run


def _refuse(argument: str, why: str) -> ScytheError:
    return ScytheError(f"BaseExperiment: {argument} is not supported by Scythe ({why})")


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
        if storage_settings is not None:
            raise _refuse("storage_settings", "set SCYTHE_STORE, or SCYTHE_STORAGE_BUCKET and _PREFIX")
        # run_name becomes the run's store folder: checked here, before anything is designed or
        # written, because `dataclasses.replace` skips the check Register() makes of a name.
        named = store_name(run_name, "an experiment") if run_name else None
        self.experiment = dataclasses.replace(chosen, name=named) if named else chosen

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
        if not overwrite_sort_index:
            raise _refuse("overwrite_sort_index=False", "a run's sort_index is always 0..n-1")
        if not overwrite_experiment_id:
            raise _refuse("overwrite_experiment_id=False", "experiment_id always names the run")
        if s3_client is not None:
            raise _refuse("s3_client", "the store's client comes from AWS_* and SCYTHE_S3_ENDPOINT_URL")
        if getattr(recursion_map, "path", None) is not None:
            raise _refuse("recursion_map.path", "the fan-out tree is uniform: give factor and max_depth")
        rows = [specs] if isinstance(specs, ExperimentInputSpec) else list(specs)
        result = allocate(self.experiment, rows, version=version, recursion_map=recursion_map)
        return result, FinishedRef(run=result)


__all__ = ["BaseExperiment", "FinishedRef"]
