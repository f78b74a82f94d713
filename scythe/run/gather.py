"""Gather: committed shards → `final/scalars.pq`, `result_file_refs.pq`, `errors.pq`, `<frame>.pq`.

Streaming: one shard in memory at a time, whatever the run's size. Deterministic: shards are
read in batch order (= sort_index order) with one unified schema, so gathering twice gives the
same bytes. Each final file is staged and committed whole.
"""

from __future__ import annotations

import contextlib
import statistics
import tempfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from operator import attrgetter
from pathlib import Path
from typing import NoReturn

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from scythe.errors import DamagedBatchesError, ScytheError, StoreError
from scythe.run import timings
from scythe.run.commits import BatchOutcome, GatherSummary, parse_outcome
from scythe.run.layout import COMMIT, FINAL_SUMMARY, RESULTS, RunRef
from scythe.run.manifest import Manifest
from scythe.run.reuse import REUSED, local_path, reused_shard
from scythe.store import LocalStore, Store, staged_write

RUN_SUMMARY = "final/summary.json"  # the GatherSummary, beside the tables it describes

IO_THREADS = 8  # concurrent GETs from an object store: overlaps their latency and the server's work


def gather(
    store: Store, run: RunRef, manifest: Manifest, index: list[str], outputs: Sequence[str] = ()
) -> GatherSummary:
    """Write every final table of a finished run; refuses while any batch is uncommitted.

    `scalars.pq` is always written (empty, with the same index and `outputs` as columns of null
    type, when no spec succeeded; `scythe.results.load` supplies an empty `errors` when none
    failed). Each batch's executed rows and the rows it reused from earlier runs
    (`scythe.run.reuse`) are merged in sort_index order. The summary is written last, to
    final/summary.json and then to the marker backends wait for.
    """
    with (
        _committed_shards(store, run, manifest.n_batches) as (outcomes, local),
        _reused_shards(store, run) as (reused, reused_local),
    ):

        def groups(pick: Callable[[BatchOutcome], str | None]) -> list[list[Path]]:
            found = []
            for o in outcomes:
                file, copied = pick(o), reused.get(o.batch)
                group = [local(o, file)] if file else []
                if copied is not None and (file := pick(copied)):
                    group.append(reused_local(copied, file))
                if group:
                    found.append(group)
            return found

        tables: dict[str, tuple[list[list[Path]], list[str]]] = {
            "scalars": (groups(attrgetter("scalars")), index),
            "result_file_refs": (groups(attrgetter("file_refs")), index),
            "errors": (groups(attrgetter("errors")), index),
            "timings": (groups(attrgetter("timings")), [n for n in index if n in timings.INDEX]),
        }
        records = [*outcomes, *reused.values()]
        for name in sorted({n for o in records for n in o.frames}):
            frame = next(o.frames[name] for o in records if name in o.frames)
            tables[name] = (groups(_frame_file(name)), frame.index)
        files = {}
        for name, (paths, levels) in tables.items():
            if paths:
                files[name] = _write_final(store, run, name, paths, levels)
        if "scalars" not in files:  # no spec succeeded: the table exists all the same, empty
            nulls = [pa.field(name, pa.null()) for name in outputs]
            errors = [p for group in tables["errors"][0] for p in group]
            files["scalars"] = _write_empty(store, run.final("scalars"), errors, index, nulls)
        workers = _workers([p for group in tables["timings"][0] for p in group])
    n_reused = sum(r.succeeded for r in reused.values())
    summary = GatherSummary(
        succeeded=sum(o.succeeded for o in outcomes) + n_reused,
        failed=sum(o.failed for o in outcomes),
        files=files,
        spec_seconds=_spec_seconds(outcomes),
        **timings.summary_fields(manifest, outcomes, n_reused, workers),
    )
    data = summary.model_dump_json().encode()
    store.put_bytes(run.key(RUN_SUMMARY), data)
    store.put_bytes(run.key(FINAL_SUMMARY), data)
    return summary


def _frame_file(name: str) -> Callable[[BatchOutcome], str | None]:
    return lambda o: o.frames[name].file if name in o.frames else None


def _write_final(store: Store, run: RunRef, name: str, groups: list[list[Path]], levels: list[str]) -> str:
    final = run.final(name)
    with staged_write(store, final) as dest:
        try:
            concat_parquet(groups, levels, dest)
        except (pa.ArrowException, OSError):
            _raise_if_unreadable(store, run, [p for group in groups for p in group])
            raise
    return store.uri_for(final)


def _workers(paths: list[Path]) -> list[str]:
    """The distinct spec processes the timings shards name (one column of each, already local)."""
    found: set[str] = set()
    for path in paths:
        column = pq.read_table(path, columns=["worker"]).column("worker")
        found.update(str(w) for w in pc.unique(column.drop_null()).to_pylist())
    return sorted(found)


@contextlib.contextmanager
def _reused_shards(store: Store, run: RunRef) -> Iterator[tuple[dict[int, BatchOutcome], _Local]]:
    """Each batch's record of rows copied from earlier runs, and a local path for its files."""
    keys = [k for k in store.list_keys(run.key(f"{REUSED}/")) if k.endswith(f"/{COMMIT}")]
    with tempfile.TemporaryDirectory(prefix="scythe-gather-reused-") as tmp:
        folder = None if isinstance(store, LocalStore) else Path(tmp)
        records = {}
        for key in keys:
            batch = int(key.rsplit("/", 2)[-2])
            record = parse_outcome(store.get_bytes(key), batch)
            if record is None:
                raise ScytheError(f"{_relative(run, key)} is not a valid record of reused rows")
            if folder is not None:
                for file in _shard_files(record):
                    store.get_file(
                        reused_shard(run, batch, file), local_path(store, run, batch, file, folder)
                    )
            records[batch] = record
        yield records, lambda o, file: local_path(store, run, o.batch, file, folder)


def _spec_seconds(outcomes: Sequence[BatchOutcome]) -> float | None:
    """The median over batches of a spec's own seconds (a batch's spec time ÷ its specs): what
    the spec costs wherever it runs, without the batch's process start or waits on a busy machine."""
    rates = [o.spec_seconds / n for o in outcomes if o.spec_seconds > 0 and (n := o.succeeded + o.failed)]
    return round(statistics.median(rates), 6) if rates else None


def gather_experiment(store: Store, run: RunRef, manifest: Manifest) -> GatherSummary:
    """`gather` with the index and outputs of the run's own experiment (what backends call)."""
    from scythe.registry import load_experiment

    experiment = load_experiment(manifest.experiment_ref)
    return gather(
        store,
        run,
        manifest,
        experiment.input_spec.index_fields(manifest.computed_features),
        experiment.output_spec.scalar_fields(),
    )


def _write_empty(store: Store, key: str, like: list[Path], index: list[str], extra: list[pa.Field]) -> str:
    """A zero-row table with the index of the shards in `like` and then `extra` columns."""
    found = shard_schema(like)
    schema = unified_schema_of([found.field(n) for n in index if n in found.names] + extra, index)
    with staged_write(store, key) as dest:
        pq.write_table(schema.empty_table(), dest)
    return store.uri_for(key)


_Local = Callable[[BatchOutcome, str], Path]


@contextlib.contextmanager
def _committed_shards(
    store: Store, run: RunRef, n_batches: int
) -> Iterator[tuple[list[BatchOutcome], _Local]]:
    """Every commit record in batch order, and a local path for each shard file they name.

    Each record and its shards are checked first (`_examine`); damaged batches are reset and
    reported in one `DamagedBatchesError` (`_require_every_batch`). On S3 each batch's record
    and shards are fetched by one pool thread (requests are latency-bound); a LocalStore's files
    are read where they are. Shards a record carries inline are written out to a temp folder,
    and dropped from the record: one batch's bytes in memory at a time, as for files.
    """
    with tempfile.TemporaryDirectory(prefix="scythe-gather-") as tmp:
        folder = Path(tmp)
        if isinstance(store, LocalStore):
            found = [_examine(store, run, b, folder) for b in range(n_batches)]
        else:
            with ThreadPoolExecutor(max_workers=IO_THREADS) as pool:
                found = list(pool.map(lambda b: _examine(store, run, b, folder), range(n_batches)))

        def local(o: BatchOutcome, file: str) -> Path:
            fetched = folder / f"{o.batch:06d}" / file
            if isinstance(store, LocalStore) and not fetched.is_file():
                return store.root / run.shard(o.batch, file)
            return fetched

        yield _require_every_batch(store, run, found), local


_Examined = tuple[BatchOutcome | None, list[str]]


def _examine(store: Store, run: RunRef, batch: int, folder: Path) -> _Examined:
    """The batch's commit record (None if it has none) and what is wrong with it or its shards.

    Cheap: a stat and a footer read per shard. A LocalStore's files are checked where they
    are; otherwise each shard is first downloaded to `folder/<batch>/`, where inline ones are
    written too. A store that fails to answer raises (its `StoreError`): only a file the store
    says is absent, or one that is present but unreadable, counts as damage.
    """
    record = run.shard(batch, COMMIT)
    try:
        data = store.get_bytes(record)
    except StoreError:
        if store.exists(record):
            raise
        return None, []
    outcome = parse_outcome(data, batch)
    if outcome is None:
        return None, [f"{_relative(run, record)} is not a valid commit record"]
    problems = []
    for file in _shard_files(outcome):
        try:
            key = run.shard(batch, file)
        except ScytheError:
            problems.append(f"{_relative(run, record)} names an invalid shard file {file!r}")
            continue
        where = f"{_relative(run, key)} (in {COMMIT})" if file in outcome.inline else _relative(run, key)
        path = _fetch(store, key, outcome, file, folder / f"{batch:06d}")
        if path is None:
            problems.append(f"{where} is missing")
        elif problem := _parquet_problem(path):
            problems.append(f"{where} {problem}")
    outcome.inline = {}
    return outcome, problems


def _fetch(store: Store, key: str, outcome: BatchOutcome, file: str, folder: Path) -> Path | None:
    """A local path holding shard `file` of `outcome` (at `key`): written from the record if it
    is inline, the store's own file on a LocalStore, else downloaded; None if it is missing."""
    path = folder / file
    if file in outcome.inline:
        folder.mkdir(parents=True, exist_ok=True)
        path.write_bytes(outcome.inline[file])
        return path
    if isinstance(store, LocalStore):
        return store.root / key
    try:
        store.get_file(key, path)
    except StoreError:
        if store.exists(key):
            raise
        return None
    return path


def _parquet_problem(path: Path) -> str | None:
    """What makes `path` unusable as a shard (missing, empty, no readable footer), or None."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return "is missing"
    if size == 0:
        return "is empty"
    try:
        pq.read_metadata(path)
    except (pa.ArrowException, OSError, ValueError):
        return "is truncated or corrupt (no readable Parquet footer)"
    return None


def _relative(run: RunRef, key: str) -> str:
    return key.removeprefix(f"{run.prefix}/")


def _shard_files(outcome: BatchOutcome | None) -> list[str]:
    if outcome is None:
        return []
    named = [outcome.scalars, outcome.file_refs, outcome.errors, outcome.timings]
    named += [f.file for f in outcome.frames.values()]
    return [f for f in named if f]


def _require_every_batch(store: Store, run: RunRef, found: list[_Examined]) -> list[BatchOutcome]:
    """The outcomes, if every batch is committed and sound; else one `ScytheError` saying why
    (a `DamagedBatchesError` when committed batches are unreadable).

    A damaged batch's result folder is deleted first, so it has no commit record any more and
    `scythe resume` runs it again (as it runs any batch lost to a crash).
    """
    damaged = {b: problems for b, (_, problems) in enumerate(found) if problems}
    if damaged:
        _raise_damaged(store, run, damaged, len(found))
    missing = [b for b, (o, _) in enumerate(found) if o is None]
    if missing:
        raise ScytheError(
            f"{len(missing)} of {len(found)} batches have no result yet "
            f"(first: {missing[0]}); run `scythe resume {run.prefix}` to finish them"
        )
    return [o for o, _ in found if o is not None]


def _raise_if_unreadable(store: Store, run: RunRef, paths: list[Path]) -> None:
    """After a failed concatenation: reset and name every batch whose shard cannot be read whole.

    Rare (the footer of each was read already), so every shard is read again, one at a time; a
    shard's folder is its batch's (`<batch:06d>/<file>`, locally and in the download folder).
    """
    damaged: dict[int, list[str]] = {}
    for path in paths:
        try:
            pq.ParquetFile(path).read()
        except (pa.ArrowException, OSError) as exc:
            batch = int(path.parent.name)
            where = _relative(run, run.shard(batch, path.name))
            reason = (str(exc).splitlines() or [type(exc).__name__])[0]
            damaged.setdefault(batch, []).append(f"{where} is corrupt ({reason})")
    if damaged:
        _raise_damaged(store, run, damaged, None)


def _raise_damaged(
    store: Store, run: RunRef, damaged: dict[int, list[str]], n_batches: int | None
) -> NoReturn:
    """Reset the damaged batches, then one `DamagedBatchesError` naming each: a backend re-runs
    them and gathers again in the same call; raised to the user, it says how to re-run them."""
    reset_batches(store, run, sorted(damaged))
    raise DamagedBatchesError(run.prefix, damaged, n_batches)


def reset_batches(store: Store, run: RunRef, batches: Sequence[int]) -> None:
    """Delete each batch's result folder, commit record and shards: `resume` runs it again."""
    for batch in batches:
        store.delete_prefix(run.key(f"{RESULTS}/{batch:06d}/"))


def shard_schema(paths: list[Path]) -> pa.Schema:
    """One schema for shards of one table (nulls promoted); a column whose type differs between
    shards (an `Any` output holding a float here, a str there) is one line, not an Arrow traceback."""
    try:
        return pa.unify_schemas([pq.read_schema(p) for p in paths], promote_options="permissive")
    except (pa.ArrowTypeError, pa.ArrowInvalid) as exc:
        raise ScytheError(
            f"the shards of {paths[0].name} disagree on a column's type ({exc}); give the output field "
            "one type (an annotation other than Any) and run again"
        ) from None


def unified_schema(paths: list[Path], index: list[str]) -> pa.Schema:
    """One schema for all shards (nulls promoted), index columns first, with pandas index metadata."""
    schema = shard_schema(paths)
    fields = [schema.field(n) for n in index if n in schema.names] + [
        f for f in schema if f.name not in index
    ]
    return unified_schema_of(fields, index)


def unified_schema_of(fields: list[pa.Field], index: list[str]) -> pa.Schema:
    """`fields` as a schema whose pandas metadata makes the `index` columns the index."""
    schema = pa.schema(fields)
    empty = schema.empty_table().to_pandas()
    levels = [n for n in index if n in schema.names]
    meta = pa.Schema.from_pandas(empty.set_index(levels) if levels else empty).metadata
    return schema.with_metadata(meta)


def concat_parquet(groups: Sequence[Path | Sequence[Path]], index: list[str], dest: Path) -> None:
    """Stream `groups` into one Parquet file at `dest` with a MultiIndex of `index`; a group of
    several files (a batch's executed and reused rows) is merged in sort_index order."""
    listed = [[g] if isinstance(g, Path) else list(g) for g in groups]
    schema = unified_schema([p for group in listed for p in group], index)
    # The next group is read (and cast) in a thread while this one is encoded: pyarrow releases
    # the GIL for both, and at most two groups are in memory.
    with pq.ParquetWriter(dest, schema) as writer, ThreadPoolExecutor(max_workers=1) as reader:
        upcoming = [reader.submit(_read_group, group, schema) for group in listed[:1]]
        for position in range(len(listed)):
            table = upcoming.pop().result()
            if position + 1 < len(listed):
                upcoming.append(reader.submit(_read_group, listed[position + 1], schema))
            writer.write_table(table)


def _read_group(paths: list[Path], schema: pa.Schema) -> pa.Table:
    tables = [_conform(pq.ParquetFile(path).read(), schema) for path in paths]
    if len(tables) == 1:
        return tables[0]
    merged = pa.concat_tables(tables)
    return merged.take(pc.sort_indices(merged, [("sort_index", "ascending")]))  # stable: frames keep order


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    columns = [
        table.column(f.name).cast(f.type) if f.name in table.column_names else pa.nulls(len(table), f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema)
