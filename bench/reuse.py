"""Memoisation (`--reuse`, issue 14 item 4): what a lookup against 10^6 earlier specs costs.

A synthetic local store holds one gathered run of N specs (its `spec_keys.pq`, its scalars.pq
with an output column, its gather marker: exactly the files a lookup reads); a new design of
N + N/10 rows (the old N plus 10% new) is then
- keyed: `reuse.spec_keys` over specs.pq-shaped columns (what every allocation pays, reuse or not);
- looked up: `reuse.find_hits` against the earlier run (read its keys and its scalars' sort_index,
  keep the successes, match): the lookup cost the issue asks for;
- copied: `reuse.copy_hits`, the N hit rows' outputs into the new run's per-batch reused shards.
Each step is timed in this process (medians of `--repeat` runs, imports and store setup excluded).

    uv run python -m bench.reuse --size full     # N = 10^6
    uv run python -m bench.reuse --size smoke    # N = 10^4
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from scythe.run import reuse
from scythe.run.layout import FINAL_SUMMARY, SCALARS, RunRef
from scythe.run.manifest import Manifest
from scythe.store import LocalStore

SIZES = {"smoke": 10_000, "full": 1_000_000}
BATCH = 1_000  # the batch size allocation plans for 10^6 trivial specs (MAX_BATCH)
NAMES, FILES = ["area", "mode", "weather", "wwr"], {"weather"}


def specs_table(n: int, run: RunRef, seed: int = 0) -> pa.Table:
    """specs.pq's shape: bookkeeping, three kinds of field and a stored input file."""
    rng = np.random.default_rng(seed)
    weather = [f"file:///s/{run.prefix}/artifacts/{'ab' * 32}/w{i % 3}.epw" for i in range(n)]
    return pa.table(
        {
            "experiment_id": pa.repeat(run.experiment_id, n),
            "sort_index": pa.array(np.arange(n), pa.int64()),
            "root_workflow_run_id": pa.repeat(run.run_id, n),
            "area": rng.uniform(50, 500, n),
            "mode": pa.array(np.where(rng.random(n) < 0.5, "fast", "slow")),
            "weather": pa.array(weather),
            "wwr": rng.integers(0, 100, n),
        }
    )


def earlier_run(store: LocalStore, n: int) -> RunRef:
    """A gathered run of `n` specs: the files a lookup and a copy read, nothing else."""
    run = RunRef(store=store.uri, experiment="bench", version="v1.0.0", run_id="2026-01-01_00-00-00")
    specs = specs_table(n, run)
    root = store.root / run.prefix
    for folder in ("final", "scatter-gather"):
        (root / folder).mkdir(parents=True)
    pq.write_table(reuse.keys_table(specs, NAMES, FILES), root / reuse.KEYS)
    scalars = specs.select(["experiment_id", "sort_index", "root_workflow_run_id", *NAMES])
    pq.write_table(scalars.append_column("y", pa.array(np.arange(n) * 0.5)), store.root / run.key(SCALARS))
    (store.root / run.key(FINAL_SUMMARY)).write_text("{}")
    return run


def timed(step: Callable[[], object], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        began = time.perf_counter()
        step()
        samples.append(time.perf_counter() - began)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="smoke")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    n = SIZES[args.size]
    folder = Path(tempfile.mkdtemp(prefix="scythe-bench-reuse-"))
    try:
        store = LocalStore(folder)
        source = earlier_run(store, n)
        run = source.model_copy(update={"run_id": "2026-01-02_00-00-00"})
        extra = specs_table(n // 10, run, seed=1).drop_columns(["sort_index"])
        extra = extra.add_column(1, "sort_index", pa.array(np.arange(n, n + n // 10), pa.int64()))
        new = pa.concat_tables([specs_table(n, run), extra])  # the earlier n rows, then 10% new
        keys = reuse.keys_table(new, NAMES, FILES)
        manifest = Manifest(
            experiment=run.experiment,
            version=run.version,
            run_id=run.run_id,
            experiment_id=run.experiment_id,
            experiment_ref="bench.reuse:main",
            n_specs=len(new),
            batch_size=BATCH,
            n_batches=-(-len(new) // BATCH),
            retries=0,
            timeout=60.0,
            backend="embedded",
            scythe_version="bench",
        )
        index = new.select(["experiment_id", "sort_index", "root_workflow_run_id", *NAMES])
        hits = reuse.find_hits(store, [source], keys, NAMES, FILES)
        assert len(hits.new) == n, len(hits.new)

        def copy() -> None:
            shutil.rmtree(store.root / run.prefix, ignore_errors=True)
            reuse.copy_hits(
                store, run, manifest, hits, index.take(pa.array(hits.new)), list(index.column_names)
            )

        rows = [
            ("key the new design", len(new), timed(lambda: reuse.keys_table(new, NAMES, FILES), args.repeat)),
            (
                "look up (find_hits)",
                n,
                timed(lambda: reuse.find_hits(store, [source], keys, NAMES, FILES), args.repeat),
            ),
            ("copy the hits' rows", n, timed(copy, args.repeat)),
        ]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(f"reuse, {n:,} earlier specs, a design of {n + n // 10:,} (medians of {args.repeat})")
    print("| step | rows | seconds | µs a row |\n|---|---:|---:|---:|")
    for name, count, seconds in rows:
        print(f"| {name} | {count:,} | {seconds:.3f} | {seconds / count * 1e6:.2f} |")


if __name__ == "__main__":
    main()
