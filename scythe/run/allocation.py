"""Allocation: design → validated specs → the run's files in the store → fan-out on a backend.

Steps 1–3 touch the store only after every row validated, and the manifest is written last, so a
run either exists whole or not at all (a failed allocation removes what it had written).
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from scythe.design import DesignLike, open_design
from scythe.errors import ScytheError
from scythe.registry import Experiment
from scythe.run.layout import CLAIM, RunRef, new_run_id
from scythe.run.manifest import Manifest, git_sha
from scythe.run.staging import stage_design, write_run
from scythe.run.versions import default_version, resolve_version, scythe_version
from scythe.scatter_gather import RecursionMap
from scythe.settings import get_settings
from scythe.store import Store, open_store

MAX_AUTO_BATCH = 1000
MAX_CLAIMS = 100
TARGET_BATCHES = 64


class Allocation(BaseModel):
    """A run whose files are in the store, ready for a backend."""

    run: RunRef
    manifest: Manifest


def auto_batch_size(n_specs: int) -> int:
    """About 64 batches: enough to balance workers, few enough files; never over 1,000 specs."""
    return max(1, min(MAX_AUTO_BATCH, math.ceil(n_specs / TARGET_BATCHES)))


def prepare(
    experiment: Experiment[Any, Any],
    design: DesignLike,
    *,
    store: Store | None = None,
    version: str | None = None,
    batch_size: int | None = None,
    backend: str = "embedded",
) -> Allocation:
    """Steps 1–3: validate every row, upload input files, write the run's files (manifest last).

    The design is validated in chunks and staged in a local temporary folder; the store is
    touched only once every chunk validated.
    """
    store = store or open_store(get_settings().store_uri(), get_settings().s3_endpoint_url)
    source = open_design(design)
    if not len(source):
        raise ScytheError("the design is empty: nothing to run")
    with tempfile.TemporaryDirectory(prefix="scythe-allocation-") as staging:
        staged = stage_design(experiment.input_spec, source, Path(staging))
        resolved = resolve_version(version or default_version(experiment), store.children(experiment.name))
        run = _claim_run(store, experiment.name, resolved)
        try:  # the claimed id is released if anything below fails
            size = batch_size or experiment.options.batch_size or auto_batch_size(staged.n_rows)
            manifest = Manifest(
                experiment=experiment.name,
                version=resolved,
                run_id=run.run_id,
                experiment_id=run.experiment_id,
                experiment_ref=experiment.ref,
                n_specs=staged.n_rows,
                batch_size=size,
                n_batches=math.ceil(staged.n_rows / size),
                retries=experiment.options.retries,
                timeout=experiment.options.timeout,
                backend=backend,
                git_sha=git_sha(Path.cwd()),
                image=get_settings().image,
                scythe_version=scythe_version(),
            )
            write_run(store, run, manifest, experiment, staged)
        except BaseException:
            store.delete_prefix(run.prefix)
            raise
    return Allocation(run=run, manifest=manifest)


def _claim_run(store: Store, experiment: str, version: str) -> RunRef:
    """A run id no other allocation holds. Ids are seconds, so two allocations of one version in
    the same second would share a folder: each claims its id with a create-if-absent write, and
    the loser moves on to the next second."""
    taken = store.children(f"{experiment}/{version}")
    for _ in range(MAX_CLAIMS):
        run = RunRef(store=store.uri, experiment=experiment, version=version, run_id=new_run_id(taken))
        if store.claim(run.key(CLAIM), json.dumps({"experiment_id": run.experiment_id}).encode()):
            return run
        taken.append(run.run_id)
    raise ScytheError(f"could not claim a run id under {experiment}/{version} after {MAX_CLAIMS} tries")


class RunResult(BaseModel):
    """A run: where it is and, once `finished`, how it went."""

    run: RunRef
    n_specs: int
    succeeded: int = 0
    failed: int = 0
    files: dict[str, str] = {}
    finished: bool = True

    @property
    def ok(self) -> bool:
        return self.finished and self.failed == 0


def allocate(
    experiment: Experiment[Any, Any],
    design: DesignLike,
    *,
    store: str | None = None,
    version: str | None = None,
    batch_size: int | None = None,
    backend: str | None = None,
    workers: int | None = None,
    progress: bool = True,
    wait: bool = True,
    recursion_map: RecursionMap | None = None,
) -> RunResult:
    """Validate, store and run a design, then gather its results.

    Failed specs do not raise: they are counted in `failed` and listed in `final/errors.pq`.
    With the Hatchet backend and `wait=False`, returns once the run is submitted (`finished` False).
    """
    settings = get_settings()
    backend = backend or settings.backend
    if backend not in ("embedded", "hatchet"):
        raise ScytheError(f"unknown backend {backend!r}: use embedded or hatchet")
    target = open_store(store or settings.store_uri(), settings.s3_endpoint_url)
    if backend == "hatchet":
        from scythe.backends import hatchet

        hatchet.require_workers(experiment.name)  # before anything is written
    allocation = prepare(
        experiment, design, store=target, version=version, batch_size=batch_size, backend=backend
    )
    if backend == "hatchet":
        shape = recursion_map or RecursionMap(factor=hatchet.BULK_LIMIT, max_depth=3)
        hatchet.submit(allocation.run, allocation.manifest.n_batches, shape.factor, shape.max_depth)
        if not wait:
            return RunResult(run=allocation.run, n_specs=allocation.manifest.n_specs, finished=False)
    return _execute_and_gather(target, allocation, workers=workers, progress=progress)


def resume(
    run: str, *, store: str | None = None, workers: int | None = None, progress: bool = True
) -> RunResult:
    """Run only the batches of `run` that have no committed result, then gather."""
    from scythe.run.gather import missing_batches
    from scythe.run.manifest import find_run, read_manifest

    settings = get_settings()
    target = open_store(store or settings.store_uri(), settings.s3_endpoint_url)
    ref = find_run(target, run)
    allocation = Allocation(run=ref, manifest=read_manifest(target, ref))
    if allocation.manifest.backend == "hatchet":
        from scythe.backends import hatchet

        missing = missing_batches(target, ref, allocation.manifest)
        if missing:
            hatchet.trigger_batches(ref, missing)
        else:
            hatchet.trigger_gather(ref)
    return _execute_and_gather(target, allocation, workers=workers, progress=progress)


def _execute_and_gather(
    store: Store, allocation: Allocation, *, workers: int | None, progress: bool
) -> RunResult:
    from scythe.backends import embedded

    run, manifest = allocation.run, allocation.manifest
    if manifest.backend == "hatchet":
        from scythe.backends.hatchet.monitor import wait_for_gather

        summary = wait_for_gather(store, run, manifest, progress=progress)
    else:
        from scythe.registry import load_experiment
        from scythe.run.gather import gather, missing_batches

        batches = missing_batches(store, run, manifest)
        embedded.execute(run, manifest, batches, workers=workers or get_settings().workers, progress=progress)
        experiment = load_experiment(manifest.experiment_ref)
        summary = gather(store, run, manifest, experiment.input_spec.index_fields())
    return RunResult(
        run=run,
        n_specs=manifest.n_specs,
        succeeded=summary.succeeded,
        failed=summary.failed,
        files=summary.files,
    )
