"""Allocation: design → validated specs → the run's files in the store → fan-out on a backend.

Steps 1–3 touch the store only after every row validated, and the manifest is written last, so a
run either exists whole or not at all (a failed allocation removes what it had written).
"""

from __future__ import annotations

import inspect
import math
from importlib.metadata import PackageNotFoundError, entry_points, packages_distributions
from importlib.metadata import version as dist_version
from pathlib import Path
from typing import Any

import pyarrow as pa
import yaml
from pydantic import BaseModel, TypeAdapter

from scythe.artifacts import upload_local_files
from scythe.design import DesignLike, read_design, validate_design
from scythe.errors import ScytheError
from scythe.layout import INPUT_ARTIFACTS, IO_SPEC, SPECS, RunRef, new_run_id, resolve_version
from scythe.manifest import Manifest, git_sha, write_manifest
from scythe.registry import Experiment
from scythe.scatter_gather import RecursionMap
from scythe.settings import get_settings
from scythe.specs import ExperimentInputSpec, io_schema, is_file_reference
from scythe.store import Store, open_store
from scythe.task import _put_table

MAX_AUTO_BATCH = 1000
TARGET_BATCHES = 64


class Allocation(BaseModel):
    """A run whose files are in the store, ready for a backend."""

    run: RunRef
    manifest: Manifest


def auto_batch_size(n_specs: int) -> int:
    """About 64 batches: enough to balance workers, few enough files; never over 1,000 specs."""
    return max(1, min(MAX_AUTO_BATCH, math.ceil(n_specs / TARGET_BATCHES)))


def default_version(experiment: Experiment[Any, Any]) -> str:
    """The experiment's own version, else its project's (installed or not), else `keep`."""
    if experiment.version:
        return experiment.version
    top = experiment.fn.__module__.split(".")[0]
    for ep in entry_points(group="scythe.experiments"):  # editable installs map no modules
        if ep.value.split(":")[0].split(".")[0] == top and ep.dist is not None:
            return ep.dist.version
    for dist in packages_distributions().get(top, []):
        try:
            return dist_version(dist)
        except PackageNotFoundError:
            continue
    return _source_tree_version(experiment) or "keep"


def _source_tree_version(experiment: Experiment[Any, Any]) -> str | None:
    """The version in the pyproject.toml above the experiment's source, for uninstalled projects."""
    from scythe.pyproject import read_pyproject

    try:
        source = Path(inspect.getfile(experiment.fn)).resolve()
    except (TypeError, OSError):
        return None
    for folder in source.parents:
        if (folder / "pyproject.toml").is_file():
            version = read_pyproject(folder).get("project", {}).get("version")
            return version if isinstance(version, str) else None
    return None


def prepare(
    experiment: Experiment[Any, Any],
    design: DesignLike,
    *,
    store: Store | None = None,
    version: str | None = None,
    batch_size: int | None = None,
    backend: str = "embedded",
) -> Allocation:
    """Steps 1–3: validate every row, upload input files, write the run's files (manifest last)."""
    store = store or open_store(get_settings().store_uri(), get_settings().s3_endpoint_url)
    rows, base_dir = read_design(design)
    specs = validate_design(experiment.input_spec, rows, base_dir)
    resolved = resolve_version(version or default_version(experiment), store.children(experiment.name))
    taken = store.children(f"{experiment.name}/{resolved}")
    run = RunRef(store=store.uri, experiment=experiment.name, version=resolved, run_id=new_run_id(taken))
    size = batch_size or experiment.options.batch_size or auto_batch_size(len(specs))
    manifest = Manifest(
        experiment=experiment.name,
        version=resolved,
        run_id=run.run_id,
        experiment_id=run.experiment_id,
        experiment_ref=experiment.ref,
        n_specs=len(specs),
        batch_size=size,
        n_batches=math.ceil(len(specs) / size),
        retries=experiment.options.retries,
        timeout=experiment.options.timeout,
        backend=backend,
        git_sha=git_sha(Path.cwd()),
        image=get_settings().image,
        scythe_version=_scythe_version(),
    )
    try:
        _write_run(store, run, manifest, experiment, specs)
    except BaseException:
        store.delete_prefix(run.prefix)
        raise
    return Allocation(run=run, manifest=manifest)


def _write_run(
    store: Store,
    run: RunRef,
    manifest: Manifest,
    experiment: Experiment[Any, Any],
    specs: list[ExperimentInputSpec],
) -> None:
    spec_type = experiment.input_spec
    records: list[dict[str, Any]] = TypeAdapter(list[spec_type]).dump_python(specs, mode="json")  # type: ignore[valid-type]
    artifacts = _upload_inputs(store, run, spec_type, specs, records)
    for record in records:
        record["experiment_id"] = run.experiment_id
        record["root_workflow_run_id"] = run.run_id
    table = pa.Table.from_pylist(records)
    _put_table(store, run.key(SPECS), table)
    for batch in range(manifest.n_batches):
        rows = manifest.batch_range(batch)
        _put_table(store, run.batch_input(batch), table.slice(rows.start, len(rows)))
    io = {"experiment": experiment.name, **io_schema(spec_type, experiment.output_spec)}
    store.put_bytes(run.key(IO_SPEC), yaml.safe_dump(io, sort_keys=False).encode())
    store.put_bytes(run.key(INPUT_ARTIFACTS), yaml.safe_dump(artifacts, sort_keys=False).encode())
    write_manifest(store, run, manifest)


def _upload_inputs(
    store: Store,
    run: RunRef,
    spec_type: type[ExperimentInputSpec],
    specs: list[ExperimentInputSpec],
    records: list[dict[str, Any]],
) -> dict[str, Any]:
    """Upload local input files once each and point the records at their stored URIs."""
    fields = [n for n, f in spec_type.model_fields.items() if is_file_reference(f)]
    local = {getattr(s, n) for s in specs for n in fields if isinstance(getattr(s, n), Path)}
    uploaded = upload_local_files(local, store, run)
    files: dict[str, list[str]] = {name: [] for name in fields}
    for spec, record in zip(specs, records, strict=True):
        for name in fields:
            value = getattr(spec, name)
            if isinstance(value, Path):
                record[name] = uploaded[value].uri
                files[name].append(record[name])
    return {
        "files": {name: sorted(set(uris)) for name, uris in files.items() if uris},
        "sources": [a.model_dump() for a in uploaded.values()],
    }


def _scythe_version() -> str:
    try:
        return dist_version("scythe")
    except PackageNotFoundError:
        return "unknown"


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
    from scythe.gather import missing_batches
    from scythe.manifest import find_run, read_manifest

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
        from scythe.monitor import wait_for_gather

        summary = wait_for_gather(store, run, manifest, progress=progress)
    else:
        from scythe.gather import gather, missing_batches
        from scythe.registry import load_experiment

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
