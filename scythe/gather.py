"""Gather: committed shards → `final/scalars.pq`, `result_file_refs.pq`, `errors.pq`, `<frame>.pq`.

Streaming: one shard in memory at a time, whatever the run's size. Deterministic: shards are
read in batch order (= sort_index order) with one unified schema, so gathering twice gives the
same bytes. Each final file is staged and committed whole.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, Field

from scythe.errors import ScytheError
from scythe.layout import RunRef
from scythe.manifest import Manifest
from scythe.store import LocalStore, Store, staged_write
from scythe.task import BatchOutcome, read_outcome


class GatherSummary(BaseModel):
    succeeded: int
    failed: int
    files: dict[str, str] = Field(description="final table name → URI")


def missing_batches(store: Store, run: RunRef, manifest: Manifest) -> list[int]:
    """Batches with no commit record: never run, still running, or lost to a crash."""
    done = {
        k.rsplit("/", 2)[-2]
        for k in store.list_keys(run.key("scatter-gather/results"))
        if k.endswith("_SUCCESS.json")
    }
    return [b for b in range(manifest.n_batches) if f"{b:06d}" not in done]


def gather(store: Store, run: RunRef, manifest: Manifest, index: list[str]) -> GatherSummary:
    """Write every final table of a finished run; refuses while any batch is uncommitted."""
    missing = missing_batches(store, run, manifest)
    if missing:
        raise ScytheError(
            f"{len(missing)} of {manifest.n_batches} batches have no result yet "
            f"(first: {missing[0]}); run `scythe resume {run.prefix}` to finish them"
        )
    outcomes = [_outcome(store, run, b) for b in range(manifest.n_batches)]
    tables: dict[str, tuple[list[str], list[str]]] = {
        "scalars": ([run.shard(o.batch, o.scalars) for o in outcomes if o.scalars], index),
        "result_file_refs": ([run.shard(o.batch, o.file_refs) for o in outcomes if o.file_refs], index),
        "errors": ([run.shard(o.batch, o.errors) for o in outcomes if o.errors], index),
    }
    for name in sorted({n for o in outcomes for n in o.frames}):
        shards = [o for o in outcomes if name in o.frames]
        keys = [run.shard(o.batch, o.frames[name].file) for o in shards]
        tables[name] = (keys, shards[0].frames[name].index)
    files = {}
    for name, (keys, levels) in tables.items():
        if keys:
            final = run.final(name)
            with _local_shards(store, keys) as paths, staged_write(store, final) as dest:
                concat_parquet(paths, levels, dest)
            files[name] = store.uri_for(final)
    return GatherSummary(
        succeeded=sum(o.succeeded for o in outcomes), failed=sum(o.failed for o in outcomes), files=files
    )


def _outcome(store: Store, run: RunRef, batch: int) -> BatchOutcome:
    outcome = read_outcome(store, run, batch)
    if outcome is None:
        raise ScytheError(f"batch {batch} of {run.prefix} has no commit record")
    return outcome


@contextlib.contextmanager
def _local_shards(store: Store, keys: list[str]) -> Iterator[list[Path]]:
    """Local paths of the shards: the files themselves, or downloads to a temp dir (S3)."""
    if isinstance(store, LocalStore):
        yield [store.root / k for k in keys]
        return
    with tempfile.TemporaryDirectory(prefix="scythe-gather-") as tmp:
        paths = [Path(tmp) / f"{i:07d}.pq" for i in range(len(keys))]
        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(store.get_file, keys, paths))
        yield paths


def unified_schema(paths: list[Path], index: list[str]) -> pa.Schema:
    """One schema for all shards (nulls promoted), index columns first, with pandas index metadata."""
    schema = pa.unify_schemas([pq.read_schema(p) for p in paths], promote_options="permissive")
    schema = pa.schema(
        [schema.field(n) for n in index if n in schema.names] + [f for f in schema if f.name not in index]
    )
    empty = schema.empty_table().to_pandas()
    levels = [n for n in index if n in schema.names]
    meta = pa.Schema.from_pandas(empty.set_index(levels) if levels else empty).metadata
    return schema.with_metadata(meta)


def concat_parquet(paths: list[Path], index: list[str], dest: Path) -> None:
    """Stream `paths` into one Parquet file at `dest` with a MultiIndex of `index`."""
    schema = unified_schema(paths, index)
    with pq.ParquetWriter(dest, schema) as writer:
        for path in paths:
            writer.write_table(_conform(pq.ParquetFile(path).read(), schema))


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    columns = [
        table.column(f.name).cast(f.type) if f.name in table.column_names else pa.nulls(len(table), f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema)
