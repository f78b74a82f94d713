"""Allocation: design → validated specs → the run's files in the store → fan-out on a backend.

Steps 1–3 touch the store only after every row validated, and the manifest is written last, so a
run either exists whole or not at all (a failed allocation removes what it had written).
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from scythe.backends import get_backend
from scythe.backends.base import Backend, RecursionMap
from scythe.design import DesignLike, open_design
from scythe.errors import RunInterrupted, ScytheError, StoreWriteError
from scythe.registry import Experiment
from scythe.run import batching, timings
from scythe.run.batching import Capacity
from scythe.run.commits import GatherSummary
from scythe.run.layout import CLAIM, RunRef, new_run_id, store_name
from scythe.run.manifest import Manifest, git_sha
from scythe.run.reuse import sources_of
from scythe.run.staging import Staged, stage_design, write_run
from scythe.run.versions import default_version, resolve_version, scythe_version
from scythe.settings import ScytheSettings, get_settings
from scythe.store import Store, check_writable
from scythe.store.base import FULL_OR_READ_ONLY, refused_write

MAX_CLAIMS = 100


class Allocation(BaseModel):
    """A run whose files are in the store, ready for a backend."""

    run: RunRef
    manifest: Manifest
    batching: str = ""  # how the batch size was chosen, for `scythe run` to say
    reused: int = 0  # specs copied from earlier runs (`reuse`), not run


def auto_batch_size(n_specs: int, slots: int | None = None) -> int:
    """The batch size allocation picks for `n_specs` of unknown duration on the embedded pool."""
    from scythe.backends.embedded import default_workers

    return batching.plan(
        n_specs, slots=slots or default_workers(), spec_seconds=None, batch_overhead=0.02
    ).size


def prepare(
    experiment: Experiment[Any, Any],
    design: DesignLike,
    *,
    store: Store | None = None,
    version: str | None = None,
    batch_size: int | None = None,
    backend: str = "embedded",
    settings: ScytheSettings | None = None,
    capacity: Capacity | None = None,
    batch_overhead: float = 0.02,
    reuse: bool = False,
    reuse_from: Sequence[RunRef] = (),
) -> Allocation:
    """Steps 1–3: validate every row, upload input files, write the run's files (manifest last).

    `reuse` copies every spec an earlier gathered run of the same experiment and version
    succeeded on, `reuse_from` those of the runs given (`scythe.run.reuse`); only the rest run.

    The design is validated in chunks and staged in a local temporary folder; the store is
    touched only once every chunk validated. Unless given, the batch size comes from the slots
    the backend reported and the spec time the experiment's last gathered run recorded
    (`run/batching.py` says how).
    """
    _check_importable(experiment)
    settings = settings or get_settings()
    started = timings.now()  # the run's start in summary.json: allocation, validation included
    store = store or settings.open_store()
    check_writable(store)  # a read-only or full store is one line before any work, not a traceback after
    source = open_design(design, experiment.input_spec)
    if not len(source):
        raise ScytheError("the design is empty: nothing to run")
    with tempfile.TemporaryDirectory(prefix="scythe-allocation-") as staging:
        with refused_write(Path(staging), FULL_OR_READ_ONLY):  # a full /tmp: one line naming it
            outputs = [*experiment.output_spec.scalar_fields(), *experiment.output_spec.file_fields()]
            staged = stage_design(experiment.input_spec, source, Path(staging), outputs)
        resolved = resolve_version(version or default_version(experiment), store.children(experiment.name))
        run = _claim_run(store, experiment.name, resolved)
        try:  # the claimed id is released if anything below fails
            size, why = _batch_size(store, experiment, staged.n_rows, batch_size, capacity, batch_overhead)
            manifest = _manifest(experiment, run, staged, size, backend, settings, started)
            sources = [*reuse_from, *(sources_of(store, run) if reuse else [])]
            reused = write_run(store, run, manifest, experiment, staged, sources)
        except BaseException:
            store.delete_prefix(run.prefix)
            raise
    return Allocation(run=run, manifest=manifest, batching=why, reused=reused)


def _check_importable(experiment: Experiment[Any, Any]) -> None:
    """Workers and `scythe resume` import the experiment by module path: refuse one they cannot."""
    store_name(experiment.name, "an experiment")  # a name changed after Register() (compat's run_name)
    if experiment.fn.__module__ == "__main__":
        raise ScytheError(
            f"{experiment.name} is defined in the script being run (__main__): workers and `scythe resume` "
            "import experiments by module path, so move it into a module and import it from there"
        )
    if "<locals>" in experiment.fn.__qualname__:
        raise ScytheError(
            f"{experiment.name} is defined inside a function ({experiment.ref}): workers and `scythe "
            "resume` import experiments by module path, so define it at the top level of a module"
        )


def _manifest(
    experiment: Experiment[Any, Any],
    run: RunRef,
    staged: Staged,
    size: int,
    backend: str,
    settings: ScytheSettings,
    started: datetime,
) -> Manifest:
    return Manifest(
        experiment=experiment.name,
        version=run.version,
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
        image=settings.image,
        scythe_version=scythe_version(),
        computed_features=staged.computed,
        created_at=started,
    )


def _batch_size(
    store: Store,
    experiment: Experiment[Any, Any],
    n_specs: int,
    given: int | None,
    capacity: Capacity | None,
    overhead: float,
) -> tuple[int, str]:
    """The batch size and why: given (`--batch-size`, then the experiment's option) or planned."""
    if given or experiment.options.batch_size:
        return given or experiment.options.batch_size or 1, "as given"
    chosen = batching.plan(
        n_specs,
        slots=capacity.slots if capacity else None,
        spec_seconds=batching.recorded_spec_seconds(store, experiment.name),
        batch_overhead=overhead,
        spread=capacity.spread if capacity else 1,
    )
    return chosen.size, chosen.why


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
    batches: str = ""  # how the run was cut, e.g. `256 of ≤ 4 specs (256 slots, ~500 ms a spec)`
    reused: int = 0  # of `succeeded`, the specs copied from earlier runs (`allocate(reuse=True)`)

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
    settings: ScytheSettings | None = None,
    reuse: bool = False,
    reuse_from: Sequence[RunRef] = (),
) -> RunResult:
    """Validate, store and run a design, then gather its results.

    Failed specs do not raise: they are counted in `failed` and listed in `final/errors.pq`.
    `reuse=True` runs only the specs no earlier gathered run of the same experiment and version
    (in the same store) succeeded on; the others' rows are copied (`reused` counts them).
    `reuse_from` copies from the runs given instead (`scythe resume RUN --failed`).
    With the Hatchet backend and `wait=False`, returns once the run is submitted (`finished` False).
    `settings` default to the environment's, read once here.
    """
    settings = settings or get_settings()
    runner = get_backend(backend or settings.backend, settings, workers=workers)
    target = settings.open_store(store)
    runner.check(experiment)  # before anything is written
    allocation = prepare(
        experiment,
        design,
        store=target,
        version=version,
        batch_size=batch_size,
        backend=runner.name,
        settings=settings,
        capacity=runner.capacity(experiment),
        batch_overhead=runner.batch_overhead,
        reuse=reuse,
        reuse_from=reuse_from,
    )
    run, manifest = allocation.run, allocation.manifest
    runner.submit(target, run, manifest, recursion_map)
    batches = f"{manifest.n_batches} of ≤ {manifest.batch_size} specs ({allocation.batching})"
    if not wait and runner.detaches:
        return RunResult(run=run, n_specs=manifest.n_specs, finished=False, batches=batches)
    return _waited(runner, target, run, manifest, progress).model_copy(update={"batches": batches})


def resume(
    run: str,
    *,
    store: str | None = None,
    workers: int | None = None,
    progress: bool = True,
    settings: ScytheSettings | None = None,
) -> RunResult:
    """Run only the batches of `run` that have no committed result, then gather."""
    from scythe.run.manifest import find_run, read_manifest

    settings = settings or get_settings()
    target = settings.open_store(store)
    ref = find_run(target, run)
    manifest = read_manifest(target, ref)
    try:
        check_writable(target)
    except StoreWriteError as exc:
        raise exc.resumable(ref.prefix, target.uri) from None
    runner = get_backend(manifest.backend, settings, workers=workers)
    runner.resume(target, ref, manifest)
    return _waited(runner, target, ref, manifest, progress)


def _waited(runner: Backend, store: Store, run: RunRef, manifest: Manifest, progress: bool) -> RunResult:
    """The backend's wait; Ctrl-C stays an interrupt and says exactly how to resume, and so does
    a store that stopped taking writes (committed batches are kept)."""
    try:
        summary = runner.wait(store, run, manifest, progress=progress)
    except KeyboardInterrupt as exc:
        raise RunInterrupted(run.prefix, store.uri) from exc
    except StoreWriteError as exc:
        raise exc.resumable(run.prefix, store.uri) from exc
    return _result(run, manifest, summary)


def _result(run: RunRef, manifest: Manifest, summary: GatherSummary) -> RunResult:
    return RunResult(
        run=run,
        n_specs=manifest.n_specs,
        succeeded=summary.succeeded,
        failed=summary.failed,
        files=summary.files,
        reused=summary.reused or 0,
    )
