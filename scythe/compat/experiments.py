"""scythe-engine's `BaseExperiment(...).allocate(...)`, kept thin over `scythe.allocate`.

Upstream returns `(run, ref)` and callers wait with `ref.result()`; here `allocate` has already
waited when it returns (on Hatchet too: `ref` carries the finished `RunResult`). One spec (not a
list) is a run of one, versioned like any run; its `ref.result()` is the spec's output, as
upstream's is the runnable's return value (read back from the run's tables). Every argument
is either honoured (`recursion_map` shapes the Hatchet fan-out tree) or refused with an error
that names it (`storage_settings`, `s3_client`, `overwrite_*=False`, `recursion_map.path`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, overload

from pydantic import BaseModel

from scythe.backends.base import RecursionMap
from scythe.errors import ScytheError
from scythe.registry import Experiment
from scythe.run.allocation import RunResult, allocate
from scythe.run.layout import store_name
from scythe.run.versions import VersionStrategy
from scythe.specs import ExperimentInputSpec, ExperimentOutputSpec


class FinishedRef(BaseModel):
    """Stands in for upstream's Hatchet run ref: `result()` returns the finished run."""

    run: RunResult

    def result(self) -> RunResult:
        return self.run

    async def aio_result(self) -> RunResult:
        return self.run


@dataclasses.dataclass(frozen=True)
class FinishedSpecRef:
    """Stands in for upstream's ref of a one-spec run: `result()` is that spec's output."""

    run: RunResult
    experiment: Experiment[Any, Any]

    def result(self) -> ExperimentOutputSpec:
        from scythe.compat.outputs import spec_output

        return spec_output(self.run, self.experiment)

    async def aio_result(self) -> ExperimentOutputSpec:
        return self.result()


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

    @overload
    def allocate(
        self,
        specs: ExperimentInputSpec,
        version: VersionStrategy | str = ...,
        overwrite_sort_index: bool = ...,
        overwrite_experiment_id: bool = ...,
        recursion_map: RecursionMap | None = ...,
        s3_client: Any = ...,
    ) -> tuple[RunResult, FinishedSpecRef]: ...

    @overload
    def allocate(
        self,
        specs: Sequence[ExperimentInputSpec],
        version: VersionStrategy | str = ...,
        overwrite_sort_index: bool = ...,
        overwrite_experiment_id: bool = ...,
        recursion_map: RecursionMap | None = ...,
        s3_client: Any = ...,
    ) -> tuple[RunResult, FinishedRef]: ...

    def allocate(
        self,
        specs: Sequence[ExperimentInputSpec] | ExperimentInputSpec,
        version: VersionStrategy | str = "bumpmajor",
        overwrite_sort_index: bool = True,
        overwrite_experiment_id: bool = True,
        recursion_map: RecursionMap | None = None,
        s3_client: Any = None,
    ) -> tuple[RunResult, FinishedRef | FinishedSpecRef]:
        """Validate, store, run and gather `specs` (always re-indexed 0..n-1, as upstream does);
        one spec instance is a run of one whose ref's `result()` is its output."""
        if not overwrite_sort_index:
            raise _refuse("overwrite_sort_index=False", "a run's sort_index is always 0..n-1")
        if not overwrite_experiment_id:
            raise _refuse("overwrite_experiment_id=False", "experiment_id always names the run")
        if s3_client is not None:
            raise _refuse("s3_client", "the store's client comes from AWS_* and SCYTHE_S3_ENDPOINT_URL")
        if getattr(recursion_map, "path", None) is not None:
            raise _refuse("recursion_map.path", "the fan-out tree is uniform: give factor and max_depth")
        if isinstance(specs, ExperimentInputSpec):
            one = allocate(self.experiment, specs, version=version, recursion_map=recursion_map)
            return one, FinishedSpecRef(run=one, experiment=self.experiment)
        result = allocate(self.experiment, list(specs), version=version, recursion_map=recursion_map)
        return result, FinishedRef(run=result)


__all__ = ["BaseExperiment", "FinishedRef", "FinishedSpecRef"]
