"""Allocation: design → validated specs → the run's files in the store → fan-out on a backend.

Steps 1–3 touch the store only after every row validated, and the manifest is written last, so a
run either exists whole or not at all (a failed allocation removes what it had written).
"""

from __future__ import annotations

import functools
import inspect
import math
import tempfile
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, entry_points, packages_distributions
from importlib.metadata import version as dist_version
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import yaml
from pydantic import BaseModel, TypeAdapter

from scythe.artifacts import upload_local_files
from scythe.design import DesignLike, DesignSource, DesignValidator, open_design
from scythe.errors import DesignError, ScytheError
from scythe.layout import INPUT_ARTIFACTS, IO_SPEC, SPECS, RunRef, new_run_id, resolve_version
from scythe.manifest import Manifest, git_sha, write_manifest
from scythe.registry import Experiment
from scythe.scatter_gather import RecursionMap
from scythe.settings import get_settings
from scythe.specs import ExperimentInputSpec, holds_one_reference, io_schema, json_as_is_type
from scythe.store import S3Store, Store, open_store
from scythe.task import _put_table

MAX_AUTO_BATCH = 1000
TARGET_BATCHES = 64
#: Rows validated at a time: one chunk's dicts and models are in memory, never the design's.
CHUNK_ROWS = 20_000
#: specs.pq row groups: pyarrow's default, as when the whole table is written at once.
ROW_GROUP_ROWS = 1024 * 1024
#: Concurrent PUTs of batch inputs to S3 (a local store writes from one background thread).
UPLOAD_THREADS = 8


class Allocation(BaseModel):
    """A run whose files are in the store, ready for a backend."""

    run: RunRef
    manifest: Manifest


def auto_batch_size(n_specs: int) -> int:
    """About 64 batches: enough to balance workers, few enough files; never over 1,000 specs."""
    return max(1, min(MAX_AUTO_BATCH, math.ceil(n_specs / TARGET_BATCHES)))


def default_version(experiment: Experiment[Any, Any]) -> str:
    """The experiment's own version, else its project's (installed or not), else `keep`.

    Cheapest first: `packages_distributions()` reads every installed distribution's file list
    (0.2–0.6 s), so it is asked only when neither an entry point nor a source tree answers.
    """
    if experiment.version:
        return experiment.version
    top = experiment.fn.__module__.split(".")[0]
    for ep in entry_points(group="scythe.experiments"):  # editable installs map no modules
        if ep.value.split(":")[0].split(".")[0] == top and ep.dist is not None:
            return ep.dist.version
    found = _source_tree_version(experiment)
    if found:
        return found
    for dist in _packages_distributions().get(top, []):
        try:
            return dist_version(dist)
        except PackageNotFoundError:
            continue
    return "keep"


@functools.cache
def _packages_distributions() -> Mapping[str, list[str]]:
    """Cached: installed distributions do not change while a process allocates."""
    return packages_distributions()


def _source_tree_version(experiment: Experiment[Any, Any]) -> str | None:
    """The version in the pyproject.toml above the experiment's source, for uninstalled projects.

    Not for installed packages: one in a project's .venv would pick up that project's pyproject.
    """
    from scythe.pyproject import read_pyproject

    try:
        source = Path(inspect.getfile(experiment.fn)).resolve()
    except (TypeError, OSError):
        return None
    if {"site-packages", "dist-packages"} & set(source.parts):
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
    """Steps 1–3: validate every row, upload input files, write the run's files (manifest last).

    The design is validated in chunks and staged in a local temporary folder; the store is
    touched only once every chunk validated.
    """
    store = store or open_store(get_settings().store_uri(), get_settings().s3_endpoint_url)
    source = open_design(design)
    if not len(source):
        raise ScytheError("the design is empty: nothing to run")
    with tempfile.TemporaryDirectory(prefix="scythe-allocation-") as staging:
        staged = _stage_design(experiment.input_spec, source, Path(staging))
        resolved = resolve_version(version or default_version(experiment), store.children(experiment.name))
        taken = store.children(f"{experiment.name}/{resolved}")
        run = RunRef(store=store.uri, experiment=experiment.name, version=resolved, run_id=new_run_id(taken))
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
            scythe_version=_scythe_version(),
        )
        try:
            _write_run(store, run, manifest, experiment, staged)
        except BaseException:
            store.delete_prefix(run.prefix)
            raise
    return Allocation(run=run, manifest=manifest)


@dataclass
class _Staged:
    """A validated design in a local folder: one Arrow IPC file per chunk, in design order."""

    folder: Path
    chunks: list[Path]
    schema: pa.Schema
    n_rows: int
    local_files: dict[str, set[Path]]


def _stage_design(spec: type[ExperimentInputSpec], source: DesignSource, folder: Path) -> _Staged:
    """Step 1: validate every chunk and keep its JSON-mode records as Arrow; a DesignError lists
    every bad row of every chunk. Memory holds one chunk's dicts and models at a time."""
    validator = DesignValidator(spec, source.base_dir)
    plain = _plain_fields(spec)
    chunks: list[Path] = []
    schemas: list[pa.Schema] = []
    for start, rows in source.chunks(CHUNK_ROWS):
        specs = validator.validate(rows, start)
        if specs is None or not validator.ok:
            continue  # keep validating, to list every problem; nothing more is staged
        table = _chunk_table(validator.adapter, specs, plain)
        chunks.append(folder / f"{len(chunks):06d}.arrow")
        with pa.OSFile(str(chunks[-1]), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
        schemas.append(table.schema)
    if not validator.ok:
        raise DesignError(validator.problems())
    # Column types are inferred per chunk (a column may be all null in one, ints in one and
    # floats in another): unified, they are what inference over the whole design gives.
    schema = pa.unify_schemas(schemas, promote_options="permissive")
    return _Staged(folder, chunks, schema, len(source), validator.local_files())


def _plain_fields(spec: type[ExperimentInputSpec]) -> dict[str, type]:
    """The fields `_chunk_table` writes itself, by kind (`Path` for a file reference, written as
    `str(value)`; `str`, `int`, `float`, `bool` for values dumped as they are). None when a
    serializer or computed field of the model's own could change what a dump gives."""
    decorators = spec.__pydantic_decorators__
    if decorators.model_serializers or spec.model_computed_fields:
        return {}
    serialized = {name for d in decorators.field_serializers.values() for name in d.info.fields}
    plain: dict[str, type] = {}
    for name, field in spec.model_fields.items():
        if field.exclude or getattr(field, "exclude_if", None) is not None or serialized & {name, "*"}:
            continue
        kind = Path if holds_one_reference(field) else json_as_is_type(field)
        if kind is not None:
            plain[name] = kind
    return plain


def _plain_column(specs: list[ExperimentInputSpec], name: str, kind: type) -> pa.Array | None:
    """One field of every spec as Arrow, the values a JSON-mode dump gives; None when a value is
    not of the field's own type (a str subclass, an int in a float field, …): pydantic's dump then
    decides, as before."""
    values = [getattr(s, name) for s in specs]
    if kind is Path:
        return pa.array([None if v is None else str(v) for v in values])
    if not set(map(type, values)) <= {kind, type(None)}:
        return None
    return pa.array(values)


def _chunk_table(
    adapter: TypeAdapter[list[ExperimentInputSpec]], specs: list[ExperimentInputSpec], plain: dict[str, type]
) -> pa.Table:
    """The specs' JSON-mode dump as Arrow, in dump order. `plain` fields are built here column by
    column (the same values, without a Python-level dump of 10^6 dicts); pydantic dumps the rest."""
    fields = type(specs[0]).model_fields
    built = {name: _plain_column(specs, name, kind) for name, kind in plain.items()}
    columns = {name: array for name, array in built.items() if array is not None}
    rest = [n for n, f in fields.items() if n not in columns and not f.exclude]
    table = pa.table({})
    if rest or type(specs[0]).model_computed_fields:
        exclude = {"__all__": set(columns)} if columns else None
        table = pa.Table.from_pylist(adapter.dump_python(specs, mode="json", exclude=exclude))
    order = [n for n in fields if n in columns or n in table.column_names]
    order += [n for n in table.column_names if n not in order]
    return pa.Table.from_arrays([columns[n] if n in columns else table.column(n) for n in order], names=order)


def _write_run(
    store: Store, run: RunRef, manifest: Manifest, experiment: Experiment[Any, Any], staged: _Staged
) -> None:
    """Steps 2–3: input files, then specs.pq and the batch inputs, the io spec, the manifest last."""
    uploaded = upload_local_files(set().union(*staged.local_files.values()), store, run)
    uris = {str(path): artifact.uri for path, artifact in uploaded.items()}
    with _RunWriter(store, run, manifest, staged.folder / SPECS) as writer:
        for chunk in staged.chunks:
            table = _read_chunk(chunk, staged.schema)
            writer.write(_with_run_columns(_with_uris(table, staged.local_files, uris), run))
    store.put_file(run.key(SPECS), staged.folder / SPECS)
    io = {"experiment": experiment.name, **io_schema(experiment.input_spec, experiment.output_spec)}
    store.put_bytes(run.key(IO_SPEC), yaml.safe_dump(io, sort_keys=False).encode())
    artifacts = {
        "files": {
            name: sorted({uris[str(p)] for p in paths}) for name, paths in staged.local_files.items() if paths
        },
        "sources": [a.model_dump() for a in uploaded.values()],
    }
    store.put_bytes(run.key(INPUT_ARTIFACTS), yaml.safe_dump(artifacts, sort_keys=False).encode())
    write_manifest(store, run, manifest)


def _read_chunk(path: Path, schema: pa.Schema) -> pa.Table:
    with pa.OSFile(str(path), "rb") as source:
        table = pa.ipc.open_file(source).read_all()
    return table if table.schema == schema else table.cast(schema, safe=False)


def _with_uris(table: pa.Table, local_files: dict[str, set[Path]], uris: dict[str, str]) -> pa.Table:
    """Local input files replaced by their stored URIs (other references are kept as they are).

    Mapped once per distinct value, then taken by index: a column names a handful of files."""
    for name, paths in local_files.items():
        if not paths:
            continue
        column = table.column(name)
        distinct = pc.unique(column)
        stored = pa.array(
            [uris.get(v, v) if v is not None else None for v in distinct.to_pylist()], column.type
        )
        index = table.schema.get_field_index(name)
        table = table.set_column(index, name, pc.take(stored, pc.index_in(column, value_set=distinct)))
    return table


def _with_run_columns(table: pa.Table, run: RunRef) -> pa.Table:
    """The run's own bookkeeping: every spec's experiment_id and root_workflow_run_id."""
    for name, value in (("experiment_id", run.experiment_id), ("root_workflow_run_id", run.run_id)):
        index = table.schema.get_field_index(name)
        table = table.set_column(
            index, name, pa.repeat(pa.scalar(value, table.schema.field(index).type), len(table))
        )
    return table


class _RunWriter:
    """Streams validated rows into specs.pq (a local file) and the batch inputs (to the store).

    specs.pq gets row groups of pyarrow's default size, and each batch input is one table written
    whole, so the files are byte for byte what writing the whole design at once gives. Batch
    inputs are written by a thread pool (S3 PUTs overlap; Parquet encoding releases the GIL).
    """

    def __init__(self, store: Store, run: RunRef, manifest: Manifest, specs_path: Path) -> None:
        self.store, self.run, self.manifest = store, run, manifest
        self.specs_path = specs_path
        self.specs: pq.ParquetWriter | None = None
        self.pending_specs: list[pa.Table] = []
        self.pending_batch: list[pa.Table] = []
        self.batch = 0
        self.threads = UPLOAD_THREADS if isinstance(store, S3Store) else 1
        self.pool = ThreadPoolExecutor(max_workers=self.threads)
        self.futures: list[Future[None]] = []

    def __enter__(self) -> _RunWriter:
        return self

    def __exit__(self, kind: object, *_: object) -> None:
        try:
            if kind is None:
                self._flush_specs(final=True)
                self._cut_batches(final=True)
            for future in self.futures:
                future.result()
        finally:
            self.pool.shutdown(cancel_futures=True)
            if self.specs is not None:
                self.specs.close()

    def write(self, table: pa.Table) -> None:
        self.pending_specs.append(table)
        self.pending_batch.append(table)
        self._flush_specs(final=False)
        self._cut_batches(final=False)

    def _flush_specs(self, *, final: bool) -> None:
        rows = pa.concat_tables(self.pending_specs) if self.pending_specs else None
        if rows is None:
            return
        if self.specs is None:
            self.specs = pq.ParquetWriter(str(self.specs_path), rows.schema)
        whole = len(rows) if final else len(rows) - len(rows) % ROW_GROUP_ROWS
        if whole:
            self.specs.write_table(rows.slice(0, whole), row_group_size=ROW_GROUP_ROWS)
        self.pending_specs = [rows.slice(whole)] if whole < len(rows) else []

    def _cut_batches(self, *, final: bool) -> None:
        rows = pa.concat_tables(self.pending_batch) if self.pending_batch else None
        while rows is not None and self.batch < self.manifest.n_batches:
            size = len(self.manifest.batch_range(self.batch))
            if len(rows) < size:
                break
            self._submit(self.run.batch_input(self.batch), rows.slice(0, size).combine_chunks())
            rows = rows.slice(size)
            self.batch += 1
        self.pending_batch = [rows] if rows is not None and len(rows) else []
        if final and self.batch != self.manifest.n_batches:
            raise RuntimeError(f"staged rows end at batch {self.batch} of {self.manifest.n_batches}")

    def _submit(self, key: str, table: pa.Table) -> None:
        """Queued for the pool; a few batches at most wait, so memory stays about one chunk's."""
        while len(self.futures) >= 4 * self.threads:
            self.futures.pop(0).result()  # raises a failed write's error here
        self.futures.append(self.pool.submit(_put_table, self.store, key, table))


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
