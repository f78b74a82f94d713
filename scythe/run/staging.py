"""A validated design staged in a local folder, then written to the store as a run's files.

Memory holds one chunk of the design at a time, whatever its size: each chunk is validated,
turned into Arrow (with its specs' computed features, `scythe.run.features`) and staged as an
IPC file; only once every chunk validated are the input files uploaded and specs.pq and the
batch inputs streamed to the store, the manifest last. Stored bytes do not depend on the chunk
size.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import yaml
from pydantic import TypeAdapter

from scythe.design import DesignSource, DesignValidator
from scythe.errors import DesignError
from scythe.registry import Experiment
from scythe.run import reuse
from scythe.run.artifacts import upload_local_files
from scythe.run.features import FeatureColumns, defines_features
from scythe.run.layout import INPUT_ARTIFACTS, IO_SPEC, SPECS, RunRef
from scythe.run.manifest import Manifest, write_manifest
from scythe.specs import ExperimentInputSpec, holds_one_reference, io_schema, json_as_is_type
from scythe.store import S3Store, Store, put_table

#: Rows validated at a time: one chunk's dicts and models are in memory, never the design's.
CHUNK_ROWS = 20_000
#: specs.pq row groups: pyarrow's default, as when the whole table is written at once.
ROW_GROUP_ROWS = 1024 * 1024
#: Concurrent PUTs of batch inputs to S3 (a local store writes from one background thread).
UPLOAD_THREADS = 8


@dataclass
class Staged:
    """A validated design in a local folder: one Arrow IPC file per chunk, in design order."""

    folder: Path
    chunks: list[Path]
    schema: pa.Schema
    n_rows: int
    local_files: dict[str, set[Path]]
    computed: list[str]  # the specs' computed features (stored after the fields)


def stage_design(
    spec: type[ExperimentInputSpec], source: DesignSource, folder: Path, outputs: Sequence[str] = ()
) -> Staged:
    """Step 1: validate every chunk and keep its JSON-mode records as Arrow; a DesignError lists
    every bad row of every chunk. Memory holds one chunk's dicts and models at a time. A computed
    feature named like one of the experiment's `outputs` (or a field) is refused in one line."""
    validator = DesignValidator(spec, source.base_dir)
    plain = _plain_fields(spec)
    features = FeatureColumns(spec, outputs) if defines_features(spec) else None
    chunks: list[Path] = []
    schemas: list[pa.Schema] = []
    starts: list[int] = []
    for start, rows in source.chunks(CHUNK_ROWS):
        specs = validator.validate(rows, start)
        if specs is None or not validator.ok:
            continue  # keep validating, to list every problem; nothing more is staged
        try:
            table = _chunk_table(validator.adapter, specs, plain)
        except (pa.ArrowException, OverflowError, TypeError, ValueError) as exc:
            for line in _arrow_problems(validator.adapter, specs, start, exc):
                validator.add_problem(line)
            continue
        if features is not None:
            table = _with_features(
                table, features.chunk(specs, start, validator.add_problem), start, validator
            )
            if not validator.ok:
                continue
        starts.append(start)
        chunks.append(folder / f"{len(chunks):06d}.arrow")
        with pa.OSFile(str(chunks[-1]), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
        schemas.append(table.schema)
    if not validator.ok:
        raise DesignError(validator.problems())
    # Column types are inferred per chunk (a column may be all null in one, ints in one and
    # floats in another): unified, they are what inference over the whole design gives.
    try:
        schema = pa.unify_schemas(schemas, promote_options="permissive")
    except (pa.ArrowException, TypeError) as exc:
        raise DesignError(_drift_problems(schemas, starts, exc)) from None
    computed = features.names if features is not None else []
    return Staged(folder, chunks, schema, len(source), validator.local_files(), computed)


def _with_features(
    table: pa.Table,
    columns: dict[str, tuple[list[Any], pa.DataType | None]],
    start: int,
    validator: DesignValidator,
) -> pa.Table:
    """The chunk's table with its computed features after the fields; a value Arrow cannot hold
    is a design problem, worded as an input value's is."""
    for name, (values, kind) in columns.items():
        try:
            table = table.append_column(name, pa.array(values, kind))
        except (pa.ArrowException, OverflowError, TypeError, ValueError):
            for line in _column_problems(name, values, start, "computed feature"):
                validator.add_problem(line)
    return table


_INT64 = (-(2**63), 2**63 - 1)


def _arrow_problems(
    adapter: TypeAdapter[list[ExperimentInputSpec]],
    specs: list[ExperimentInputSpec],
    start: int,
    exc: BaseException,
) -> list[str]:
    """Why a validated chunk has no Arrow table, by design row (numbered from 1) and field: an
    integer beyond 64 bits, or a column whose rows hold values of different types (`float | str`).
    Only run once building the chunk failed: a design that stages pays nothing for it."""
    records = adapter.dump_python(specs, mode="json")
    problems: list[str] = []
    for name in type(specs[0]).model_fields:
        values = [r.get(name) for r in records]
        try:
            pa.array(values)
        except (pa.ArrowException, OverflowError, TypeError, ValueError):
            problems += _column_problems(name, values, start)
    return problems or [f"rows {start + 1}–{start + len(specs)}: cannot be stored as Arrow: {exc}"]


def _column_problems(name: str, values: list[Any], start: int, what: str = "field") -> list[str]:
    problems: list[str] = []
    first: tuple[int, str] | None = None
    for row, value in enumerate(values, start=start + 1):
        if value is None:
            continue
        if isinstance(value, int) and not isinstance(value, bool) and not _INT64[0] <= value <= _INT64[1]:
            problems.append(f"row {row}, {what} {name!r}: {value} does not fit a 64-bit integer")
            continue
        kind = "number" if type(value) in (int, float) else type(value).__name__
        if first is None:
            first = (row, kind)
        elif kind != first[1]:
            problems.append(
                f"row {row}, {what} {name!r}: {value!r} is a {kind}, but row {first[0]} holds a "
                f"{first[1]}: a column holds one type (give every row the same type)"
            )
    if not problems:
        problems.append(f"{what} {name!r}: rows {start + 1}–{start + len(values)} cannot be stored as Arrow")
    return problems


def _drift_problems(schemas: list[pa.Schema], starts: list[int], exc: BaseException) -> list[str]:
    """The fields whose type differs between chunks of the design (each chunk's first row named)."""
    problems: list[str] = []
    for name in dict.fromkeys(n for s in schemas for n in s.names):
        seen = [(start, s.field(name)) for start, s in zip(starts, schemas, strict=True) if name in s.names]
        try:
            pa.unify_schemas([pa.schema([f]) for _, f in seen], promote_options="permissive")
        except (pa.ArrowException, TypeError):
            kinds = {str(f.type): start for start, f in reversed(seen)}
            listed = ", ".join(f"{kind} from row {start + 1}" for kind, start in sorted(kinds.items()))
            problems.append(f"field {name!r}: rows hold different types ({listed}): a column holds one type")
    return problems or [f"the design's chunks cannot be combined: {exc}"]


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


def write_run(
    store: Store,
    run: RunRef,
    manifest: Manifest,
    experiment: Experiment[Any, Any],
    staged: Staged,
    reuse_from: Sequence[RunRef] = (),
) -> int:
    """Steps 2–3: input files, the specs' keys, specs.pq and the batch inputs, the io spec, the
    manifest last. Specs `reuse_from` succeeded on are copied, not put in a batch input
    (`scythe.run.reuse`); returns how many."""
    uploaded = upload_local_files(set().union(*staged.local_files.values()), store, run)
    uris = {str(path): artifact.uri for path, artifact in uploaded.items()}

    def tables() -> Iterator[pa.Table]:
        for chunk in staged.chunks:
            table = _read_chunk(chunk, staged.schema)
            yield _with_run_columns(_with_uris(table, staged.local_files, uris), run)

    names, files = reuse.key_fields(experiment.input_spec)
    # With sources, the keys must be known before any batch input is cut: a first pass over the
    # staged chunks; without, they are computed in the one pass that writes.
    keyed = [reuse.keys_table(table, names, files) for table in tables()] if reuse_from else []
    hits = reuse.find_hits(store, reuse_from, pa.concat_tables(keyed), names, files) if keyed else None
    skip = pa.array(hits.new, pa.int64()) if hits is not None and len(hits.new) else None
    index_names = experiment.input_spec.index_fields(manifest.computed_features)
    hit_index = []
    with _RunWriter(store, run, manifest, staged.folder / SPECS, skip) as writer:
        for table in tables():
            if not reuse_from:
                keyed.append(reuse.keys_table(table, names, files))
            if skip is not None:
                hit = table.filter(pc.is_in(table.column("sort_index"), value_set=skip))
                hit_index.append(hit.select([n for n in index_names if n in table.column_names]))
            writer.write(table)
    put_table(store, run.key(reuse.KEYS), pa.concat_tables(keyed))
    if hits is not None and skip is not None:
        reuse.copy_hits(store, run, manifest, hits, pa.concat_tables(hit_index), index_names)
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
    return len(skip) if skip is not None else 0


def _read_chunk(path: Path, schema: pa.Schema) -> pa.Table:
    with pa.OSFile(str(path), "rb") as source:
        table = pa.ipc.open_file(source).read_all()
    if table.schema == schema:
        return table
    if table.column_names != schema.names:  # a computed feature only other chunks' specs gave
        present = set(table.column_names)
        columns = [
            table.column(f.name) if f.name in present else pa.nulls(len(table), f.type) for f in schema
        ]
        table = pa.Table.from_arrays(columns, names=schema.names)
    return table.cast(schema, safe=False)


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

    def __init__(
        self, store: Store, run: RunRef, manifest: Manifest, specs_path: Path, skip: pa.Array | None = None
    ) -> None:
        self.store, self.run, self.manifest = store, run, manifest
        self.skip = skip  # the sort_index of specs copied from earlier runs: in no batch input
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
            batch = rows.slice(0, size).combine_chunks()
            if self.skip is not None:
                batch = batch.filter(pc.invert(pc.is_in(batch.column("sort_index"), value_set=self.skip)))
            self._submit(self.run.batch_input(self.batch), batch)
            rows = rows.slice(size)
            self.batch += 1
        self.pending_batch = [rows] if rows is not None and len(rows) else []
        if final and self.batch != self.manifest.n_batches:
            raise RuntimeError(f"staged rows end at batch {self.batch} of {self.manifest.n_batches}")

    def _submit(self, key: str, table: pa.Table) -> None:
        """Queued for the pool; a few batches at most wait, so memory stays about one chunk's."""
        while len(self.futures) >= 4 * self.threads:
            self.futures.pop(0).result()  # raises a failed write's error here
        self.futures.append(self.pool.submit(put_table, self.store, key, table))
