"""Memoisation across runs: a spec an earlier run already succeeded on is copied, not run again.

Every run records `spec_keys.pq` at allocation (beside specs.pq): one 128-bit key per spec, a
hash of its design fields (bookkeeping and computed features left out: they follow from the
fields), with a stored input file keyed by the sha256 of its content (its `artifacts/<sha256>/`
segment), not by its path. `--reuse` reads only those small files (and the `sort_index` column
of each earlier run's scalars.pq, to keep successes only), so a lookup against 10^6 earlier specs
costs one column scan per run, not a read of every output.

A hit's rows (scalars, result file refs, dataframes, timings) are copied from the earlier run's
final tables into `scatter-gather/reused/NNNNNN/`, one folder per batch of the new run with that
batch's index columns, and recorded there like a commit record; the batch inputs hold the misses
only, and a batch with nothing left to run is committed at allocation. Gather merges each batch's
executed and reused rows in sort_index order. Reused rows never go through a backend.

A key is two 64-bit halves, each folding pandas' per-column value hashes with its own constants:
a collision would copy a wrong row, so the key is wide. Not cryptographic (nobody forges designs
against themselves); a pandas upgrade that changed its hashes would only make earlier runs miss
(recomputed, never wrong).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from scythe.errors import StoreError
from scythe.run import timings
from scythe.run.commits import BatchOutcome, FrameShard
from scythe.run.layout import COMMIT, FINAL, FINAL_SUMMARY, SCALARS, SPECS, RunRef, is_run_id, store_name
from scythe.specs import ExperimentInputSpec, is_file_reference
from scythe.store import LocalStore, Store, local_copy, put_table

if TYPE_CHECKING:
    from scythe.run.manifest import Manifest

KEYS = "spec_keys.pq"
REUSED = "scatter-gather/reused"
NOT_COPIED = frozenset({"errors", "timings"})  # a hit succeeded; its timings are rebuilt as reused
_ARTIFACT = r"^.*/artifacts/([0-9a-f]{64})/[^/]*$"
_HASH_KEYS = ("scythe-reuse-k01", "scythe-reuse-k02")  # pandas' string hash keys: 16 bytes each
_SEEDS = (0x243F6A8885A308D3, 0x13198A2E03707344)  # each half's start (then the field names')
_MIXES = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F))
_NULL = 0x5851F42D4C957F2D  # a null's hash, in any column
_RECORD_FIELD = {"result_file_refs": "file_refs"}  # final table → its commit record's field
_PLAIN = (pa.types.is_integer, pa.types.is_floating, pa.types.is_boolean, pa.types.is_string)


def reused_shard(run: RunRef, batch: int, name: str) -> str:
    return run.key(f"{REUSED}/{batch:06d}/{store_name(name, 'a reused shard')}")


def key_fields(spec: type[ExperimentInputSpec]) -> tuple[list[str], set[str]]:
    """The fields a key hashes (sorted), and which of them are file references."""
    names = sorted(spec.design_fields())
    return names, {n for n in names if is_file_reference(spec.model_fields[n])}


def spec_keys(table: pa.Table, names: list[str], files: set[str]) -> pa.FixedSizeBinaryArray:
    """One key per row of `table` (specs.pq's columns): equal inputs, equal keys, whatever the run.

    Each column is hashed whole (a text column once per distinct value), then the columns are
    folded into two 64-bit halves with different constants: ~0.5 µs a spec, paid by every run."""
    named = int.from_bytes(hashlib.blake2b("\0".join(names).encode(), digest_size=8).digest(), "little")
    halves = [np.full(len(table), seed ^ named, np.uint64) for seed in _SEEDS]
    for name in names:
        column = table.column(name) if name in table.column_names else pa.nulls(len(table))
        if name in files:  # few distinct files: the regex runs once per file, not per spec
            coded = pc.dictionary_encode(column.cast(pa.string())).combine_chunks()
            content = pc.replace_substring_regex(coded.dictionary, _ARTIFACT, r"sha256:\1")
            column = content.take(coded.indices)
        elif not (pa.types.is_null(column.type) or any(check(column.type) for check in _PLAIN)):
            values = column.to_pylist()
            column = pa.array([json.dumps(v, sort_keys=True, default=str) for v in values], pa.string())
        for half, (key, mix) in enumerate(zip(_HASH_KEYS, _MIXES, strict=True)):
            halves[half] = (halves[half] ^ _column_hash(column, key)) * mix
    data = np.stack([_avalanche(h) for h in halves], axis=1).astype("<u8").tobytes()
    return pa.FixedSizeBinaryArray.from_buffers(pa.binary(16), len(table), [None, pa.py_buffer(data)])


def _column_hash(column: pa.Array | pa.ChunkedArray, key: str) -> np.ndarray:
    """pandas' 64-bit hash of each value (numbers by their bits, text keyed by `key`); nulls alike."""
    import pandas as pd

    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_null(array.type):
        return np.full(len(array), _NULL, np.uint64)
    if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        coded = pc.dictionary_encode(array)
        distinct = np.asarray(coded.dictionary.to_pylist(), dtype=object)
        by_value = pd.util.hash_array(distinct, hash_key=key) if len(distinct) else np.zeros(0, np.uint64)
        hashed = (
            by_value[pc.fill_null(coded.indices, 0).to_numpy()]
            if len(distinct)
            else np.zeros(len(array), np.uint64)
        )
    else:
        hashed = pd.util.hash_array(
            pc.fill_null(array, False if pa.types.is_boolean(array.type) else 0).to_numpy(
                zero_copy_only=False
            )
        )
    if array.null_count:
        hashed[np.asarray(array.is_null())] = _NULL
    return np.asarray(hashed, np.uint64)


def _avalanche(h: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: every input bit moves about half the output bits."""
    h = (h ^ (h >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    h = (h ^ (h >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return np.asarray(h ^ (h >> np.uint64(31)), np.uint64)


def keys_table(table: pa.Table, names: list[str], files: set[str]) -> pa.Table:
    return pa.table({"key": spec_keys(table, names, files), "sort_index": table.column("sort_index")})


def sources_of(store: Store, run: RunRef) -> list[RunRef]:
    """`--reuse`'s sources: the gathered runs of the same experiment and version, newest first."""
    found = []
    for run_id in sorted(store.children(f"{run.experiment}/{run.version}"), reverse=True):
        if run_id != run.run_id and is_run_id(run_id):
            ref = run.model_copy(update={"run_id": run_id})
            if store.exists(ref.key(FINAL_SUMMARY)):
                found.append(ref)
    return found


def _read(store: Store, key: str, columns: list[str] | None = None, filters: Any = None) -> pa.Table | None:
    """A stored Parquet file (or some columns / rows of it), None if absent."""
    if isinstance(store, LocalStore):
        path = store.root / key
        return pq.read_table(path, columns=columns, filters=filters) if path.is_file() else None
    try:
        with local_copy(store, key) as path:
            return pq.read_table(path, columns=columns, filters=filters)
    except StoreError:
        if store.exists(key):
            raise
        return None


def succeeded_keys(store: Store, source: RunRef, names: list[str], files: set[str]) -> pa.Table:
    """The keys of `source`'s specs that are in its scalars.pq (an older run: keys from specs.pq)."""
    keys = _read(store, source.key(KEYS))
    if keys is None:
        specs = _read(store, source.key(SPECS))
        keys = keys_table(specs, names, files) if specs is not None else None
    ok = _read(store, source.key(SCALARS), columns=["sort_index"])
    if keys is None or ok is None:
        return pa.table({"key": pa.array([], pa.binary(16)), "sort_index": pa.array([], pa.int64())})
    return keys.filter(pc.is_in(keys.column("sort_index"), value_set=ok.column("sort_index")))


@dataclass
class Hits:
    """Which new specs are copied, from which run and row."""

    sources: list[RunRef]
    new: np.ndarray = field(default_factory=lambda: np.array([], np.int64))  # new sort_index
    source: np.ndarray = field(default_factory=lambda: np.array([], np.int64))  # index into sources
    prior: np.ndarray = field(default_factory=lambda: np.array([], np.int64))  # its sort_index there


def find_hits(
    store: Store, sources: Sequence[RunRef], keys: pa.Table, names: list[str], files: set[str]
) -> Hits:
    """Every new spec whose key a source succeeded on; the newest source wins a tie."""
    found = [succeeded_keys(store, s, names, files) for s in sources]
    hits = Hits(list(sources))
    if not sum(len(t) for t in found):
        return hits
    value_set = pa.concat_arrays([t.column("key").combine_chunks() for t in found])
    source_of = np.concatenate([np.full(len(t), i, np.int64) for i, t in enumerate(found)])
    prior_of = np.concatenate([t.column("sort_index").to_numpy() for t in found])
    where = pc.index_in(keys.column("key"), value_set=value_set)
    hit = np.asarray(where.is_valid())
    at = np.asarray(where.fill_null(0))[hit]
    hits.new = keys.column("sort_index").to_numpy()[hit]
    hits.source, hits.prior = source_of[at], prior_of[at]
    return hits


def copy_hits(
    store: Store, run: RunRef, manifest: Manifest, hits: Hits, index: pa.Table, index_names: list[str]
) -> list[int]:
    """Write each batch's reused rows and record; commit the batches with nothing left to run.

    `index` holds the new run's index columns of the hit rows (from its specs). Returns the
    batches committed here."""
    tables: dict[str, list[pa.Table]] = {}
    levels: dict[str, list[str]] = {}
    for number, source in enumerate(hits.sources):
        chosen = hits.source == number
        if chosen.any():
            _copy_from(
                store, source, hits.new[chosen], hits.prior[chosen], index, index_names, tables, levels
            )
    by_batch = hits.new // manifest.batch_size
    split = {name: _by_batch(name, parts, manifest) for name, parts in tables.items()}
    for batch in np.unique(by_batch).tolist():
        record = BatchOutcome(batch=batch, succeeded=int((by_batch == batch).sum()), failed=0)
        for name, (rows, starts) in split.items():
            part = rows.slice(starts[batch], starts[batch + 1] - starts[batch])
            if not len(part):
                continue
            file = f"df-{name}.pq" if name in levels else f"{name}.pq"
            put_table(store, reused_shard(run, batch, file), part)
            if name in levels:
                record.frames[name] = FrameShard(file=file, index=levels[name])
            else:
                setattr(record, _RECORD_FIELD.get(name, name), file)
        store.put_bytes(reused_shard(run, batch, COMMIT), record.model_dump_json().encode())
    return _commit_fully_reused(store, run, manifest, by_batch)


def _commit_fully_reused(store: Store, run: RunRef, manifest: Manifest, by_batch: np.ndarray) -> list[int]:
    done = []
    batches, counts = np.unique(by_batch, return_counts=True)
    for batch, count in zip(batches.tolist(), counts.tolist(), strict=True):
        if count == len(manifest.batch_range(batch)):
            now = timings.now()
            record = BatchOutcome(batch=batch, succeeded=0, failed=0, started=now, finished=now)
            store.put_bytes(run.shard(batch, COMMIT), record.model_dump_json().encode())
            done.append(batch)
    return done


def _by_batch(name: str, parts: list[pa.Table], manifest: Manifest) -> tuple[pa.Table, np.ndarray]:
    """The parts as one table in sort_index order, and where each batch's rows start in it."""
    table = pa.concat_tables(parts, promote_options="permissive")
    table = table.take(pc.sort_indices(table, [("sort_index", "ascending")]))
    batches = table.column("sort_index").to_numpy() // manifest.batch_size
    if name == "timings":  # each reused row's batch in the new run
        table = table.set_column(
            table.schema.get_field_index("batch"), "batch", pa.array(batches, pa.int64())
        )
    return table, np.searchsorted(batches, np.arange(manifest.n_batches + 1), side="left")


def _copy_from(
    store: Store,
    source: RunRef,
    new: np.ndarray,
    prior: np.ndarray,
    index: pa.Table,
    index_names: list[str],
    tables: dict[str, list[pa.Table]],
    levels: dict[str, list[str]],
) -> None:
    """The hit rows of every final table of `source`, with the new run's index in front."""
    prior_set = pa.array(prior, pa.int64())
    names = [k.rsplit("/", 1)[-1] for k in store.list_keys(source.key(FINAL))]
    for name in sorted(n.removesuffix(".pq") for n in names if n.endswith(".pq")):
        if name in NOT_COPIED:
            continue
        key = source.key(f"{FINAL}/{name}.pq")
        rows = _read(store, key, filters=pc.is_in(pc.field("sort_index"), value_set=prior_set))
        if rows is None:
            continue
        moved = pa.array(new, pa.int64()).take(pc.index_in(rows.column("sort_index"), value_set=prior_set))
        front = index.take(pc.index_in(moved, value_set=index.column("sort_index")))
        kept = [c for c in rows.column_names if c not in index_names]
        table = pa.Table.from_arrays(
            [*front.columns, *(rows.column(c) for c in kept)], [*front.column_names, *kept]
        )
        tables.setdefault(name, []).append(table.replace_schema_metadata(None))
        if name not in ("scalars", "result_file_refs"):
            own = _frame_levels(rows.schema, index_names)
            levels.setdefault(name, [*index_names, *own])
    tables.setdefault("timings", []).append(_reused_timings(store, source, new, prior, index))


def _frame_levels(schema: pa.Schema, index_names: list[str]) -> list[str]:
    """A user dataframe's own index levels (after the spec's), from its pandas metadata."""
    meta = schema.pandas_metadata or {}
    return [str(n) for n in meta.get("index_columns", []) if isinstance(n, str) and n not in index_names]


def _reused_timings(
    store: Store, source: RunRef, new: np.ndarray, prior: np.ndarray, index: pa.Table
) -> pa.Table:
    """One timings row per hit: the seconds and attempts the source recorded, status `reused`."""
    prior_set = pa.array(prior, pa.int64())
    recorded = _read(
        store,
        source.key(f"{FINAL}/timings.pq"),
        columns=["sort_index", "seconds", "attempts"],
        filters=pc.is_in(pc.field("sort_index"), value_set=prior_set),
    )
    columns: dict[str, pa.Array] = {}
    if recorded is not None:
        at = pc.index_in(prior_set, value_set=recorded.column("sort_index"))
        columns = {name: recorded.column(name).take(at) for name in ("seconds", "attempts")}
    columns["status"] = pa.repeat(pa.scalar(timings.REUSED), len(new))
    columns["reused_from"] = pa.repeat(pa.scalar(source.prefix), len(new))
    front = index.take(pc.index_in(pa.array(new, pa.int64()), value_set=index.column("sort_index")))
    return timings.timing_columns(front, columns)  # batch: set once cut into the new run's batches


def local_path(store: Store, run: RunRef, batch: int, file: str, folder: Path | None) -> Path:
    """Where gather reads a reused shard: in a LocalStore, or downloaded to `folder`."""
    if isinstance(store, LocalStore):
        return store.root / reused_shard(run, batch, file)
    return (folder or Path()) / "reused" / f"{batch:06d}" / file
