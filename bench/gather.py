"""Gather: N committed results in shards → final/scalars.pq + final/monthly.pq, vs plain pyarrow.

The run is the building-energy example's, synthesised once per size straight into a local store:
shards of the auto batch size (1,000 specs), each with the scalars and the 12-row `monthly` frame
exactly as `run_batch` writes them (same columns, types and order: the smoke test checks this
against a real run), plus commit records and a manifest. Contenders read the same shard files:
- scythe: `scythe.run.gather.gather()` (manifest and commit records read, schemas unified, streamed);
- pyarrow concat + write: read every shard, `pa.concat_tables`, `pq.write_table` (per table);
- pyarrow streaming: a `ParquetWriter` fed one shard at a time (the bounded-memory limit).
"""

from __future__ import annotations

import shutil
import time
import uuid
from pathlib import Path
from typing import Any

from bench.common import (
    OUT,
    Column,
    Comparison,
    Contender,
    Report,
    Size,
    Verdict,
    fmt_int,
    for_size,
    importable_example,
    peak_rss_so_far_mib,
    run_child,
)

SIZES = {"smoke": 10_000, "full": 1_000_000}
TARGET_SECONDS = 20.0
TARGET_RSS_MIB = 2048.0
MONTHS = 12
EXPERIMENT, VERSION, RUN_ID = "building_energy", "v1.0.0", "2026-01-01_00-00-00"
OUTPUTS = ("heating", "cooling", "lighting", "equipment", "fans", "pumps")


def store_root(n: int) -> Path:
    return OUT / "data" / f"gather-{n}"


def shard_tables(
    run: Any, design: Any, lo: int, hi: int, weather_uri: list[str], seed: int
) -> tuple[Any, Any]:
    """Batch [lo, hi) as run_batch writes it: (scalars table, monthly frame table)."""
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    k = hi - lo
    part = design.slice(lo, k)
    index: dict[str, Any] = {
        "experiment_id": pa.array([run.experiment_id] * k, pa.string()),
        "sort_index": pa.array(np.arange(lo, hi, dtype=np.int64)),
        "root_workflow_run_id": pa.array([run.run_id] * k, pa.string()),
        "r_value": part.column("r_value").combine_chunks(),
        "lpd": part.column("lpd").combine_chunks(),
        "setpoint": part.column("setpoint").combine_chunks(),
        "economizer": part.column("economizer").combine_chunks().cast(pa.string()),
        "weather_file": pa.array([weather_uri[i % len(weather_uri)] for i in range(lo, hi)], pa.string()),
    }
    outputs = {name: pa.array(rng.random(k) * 100) for name in OUTPUTS}
    scalars = pa.table({**index, **outputs})
    repeat = np.repeat(np.arange(k), MONTHS)
    monthly_index = {name: column.take(pa.array(repeat)) for name, column in index.items()}
    monthly = pa.table(
        {
            **monthly_index,
            "month": pa.array(np.tile(np.arange(1, MONTHS + 1, dtype=np.int64), k)),
            "heating": pa.array(rng.random(k * MONTHS) * 10),
            "cooling": pa.array(rng.random(k * MONTHS) * 10),
        }
    )
    return scalars, monthly


def synthesise(n: int, root: Path | None = None) -> Path:
    """A committed run of `n` building-energy results in a local store (made once per size)."""
    import pyarrow.parquet as pq

    from bench.allocation import design_file
    from scythe.run.allocation import auto_batch_size
    from scythe.run.commits import BatchOutcome, FrameShard
    from scythe.run.layout import COMMIT, RunRef
    from scythe.run.manifest import Manifest, write_manifest
    from scythe.store import LocalStore

    importable_example()
    from building_energy.specs import BuildingEnergyInput

    root = root or store_root(n)
    if (root / "done").is_file():
        return root
    shutil.rmtree(root, ignore_errors=True)
    store = LocalStore(root)
    run = RunRef(store=store.uri, experiment=EXPERIMENT, version=VERSION, run_id=RUN_ID)
    design = pq.read_table(design_file(n))
    weather = sorted({Path(p).name for p in design.column("weather_file").to_pylist()[:10]})
    weather_uri = [store.uri_for(run.key(f"artifacts/{i:064x}/{name}")) for i, name in enumerate(weather)]
    size = auto_batch_size(n)
    batches = -(-n // size)
    index = BuildingEnergyInput.index_fields()
    for b in range(batches):
        lo, hi = b * size, min(n, (b + 1) * size)
        scalars, monthly = shard_tables(run, design, lo, hi, weather_uri, seed=b)
        folder = (root / run.shard(b, COMMIT)).parent
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(scalars, folder / "scalars.pq")
        pq.write_table(monthly, folder / "df-monthly.pq")
        outcome = BatchOutcome(
            batch=b,
            succeeded=hi - lo,
            failed=0,
            scalars="scalars.pq",
            frames={"monthly": FrameShard(file="df-monthly.pq", index=[*index, "month"])},
        )
        (folder / COMMIT).write_text(outcome.model_dump_json())
    manifest = Manifest(
        experiment=EXPERIMENT,
        version=VERSION,
        run_id=RUN_ID,
        experiment_id=run.experiment_id,
        experiment_ref="building_energy.experiment:simulate",
        n_specs=n,
        batch_size=size,
        n_batches=batches,
        retries=1,
        timeout=120,
        backend="embedded",
        scythe_version="bench",
    )
    write_manifest(store, run, manifest)
    (root / "done").write_text("ok\n")
    return root


def _shards(root: Path, name: str) -> list[Path]:
    prefix = f"{EXPERIMENT}/{VERSION}/{RUN_ID}/scatter-gather/results"
    return sorted((root / prefix).glob(f"*/{name}"))


def child_scythe(root: str) -> dict[str, Any]:
    from building_energy.specs import BuildingEnergyInput

    from scythe.run.gather import gather
    from scythe.run.layout import RunRef
    from scythe.run.manifest import read_manifest
    from scythe.store import LocalStore

    store = LocalStore(root)
    run = RunRef(store=store.uri, experiment=EXPERIMENT, version=VERSION, run_id=RUN_ID)
    before = peak_rss_so_far_mib()
    started = time.perf_counter()
    summary = gather(store, run, read_manifest(store, run), BuildingEnergyInput.index_fields())
    seconds = time.perf_counter() - started
    final = Path(root) / run.key("final")
    written = sum(p.stat().st_size for p in final.glob("*.pq"))
    shutil.rmtree(final)
    return {"seconds": seconds, "rss_before_mib": before, "rows": summary.succeeded, "bytes_written": written}


def child_pyarrow(root: str, streaming: bool) -> dict[str, Any]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    dest = OUT / "tmp" / f"gather-{uuid.uuid4().hex[:8]}"
    dest.mkdir(parents=True)
    before = peak_rss_so_far_mib()
    started = time.perf_counter()
    rows = 0
    for name, shard in (("scalars", "scalars.pq"), ("monthly", "df-monthly.pq")):
        paths = _shards(Path(root), shard)
        if streaming:
            schema = pq.read_schema(paths[0])
            with pq.ParquetWriter(dest / f"{name}.pq", schema) as writer:
                for path in paths:
                    table = pq.ParquetFile(path).read()
                    writer.write_table(table)
                    rows += len(table) if name == "scalars" else 0
        else:
            table = pa.concat_tables([pq.ParquetFile(p).read() for p in paths])
            pq.write_table(table, dest / f"{name}.pq")
            rows += len(table) if name == "scalars" else 0
            del table
    seconds = time.perf_counter() - started
    written = sum(p.stat().st_size for p in dest.glob("*.pq"))
    shutil.rmtree(dest)
    return {"seconds": seconds, "rss_before_mib": before, "rows": rows, "bytes_written": written}


def run(size: Size, reps: int) -> Report:
    n = SIZES[size]
    started = time.perf_counter()
    root = synthesise(n)
    made = time.perf_counter() - started
    if made > 1:
        print(f"  (synthesised {fmt_int(n)} results in {made:.0f} s: {root})", flush=True)

    def sample(target: str, **params: Any) -> dict[str, Any]:
        result = run_child(f"bench.gather:{target}", {"root": str(root), **params})
        if result.data["rows"] != n:
            raise RuntimeError(f"{target} gathered {result.data['rows']} of {n} rows")
        return {**result.data, "peak_rss_mib": result.peak_rss_mib}

    comparison = Comparison(
        f"gather, {fmt_int(n)} results ({fmt_int(n * MONTHS)} monthly rows): seconds and peak RSS",
        for_size(
            size,
            [
                Contender(
                    "scythe gather()",
                    lambda _: sample("child_scythe"),
                    "commit records, unified schema, streamed scalars.pq + monthly.pq (MultiIndex metadata)",
                    is_scythe=True,
                ),
                Contender(
                    "pyarrow concat + write",
                    lambda _: sample("child_pyarrow", streaming=False),
                    "read all shards, pa.concat_tables, pq.write_table",
                    full_only=True,
                ),
                Contender(
                    "pyarrow streaming (limit)",
                    lambda _: sample("child_pyarrow", streaming=True),
                    "ParquetWriter, one shard at a time",
                ),
            ],
        ),
    ).measure(reps)
    report = Report("gather", size)
    report.tables.append(
        (
            comparison,
            [
                Column("seconds", "seconds", ratio=True),
                Column("peak RSS MiB", "peak_rss_mib", "{:,.0f}", ratio=True, label="RSS"),
                Column("RSS before MiB", "rss_before_mib", "{:,.0f}"),
                Column("MB written", "bytes_written", "{:,.0f}", scale=1e-6),
            ],
        )
    )
    seconds = comparison.median("scythe gather()")
    rss = comparison.median("scythe gather()", "peak_rss_mib")
    assert seconds is not None
    assert rss is not None
    if size == "full":
        report.verdicts.append(Verdict(f"gather of {fmt_int(n)} results under 20 s", seconds, TARGET_SECONDS))
        report.verdicts.append(Verdict("gather peak RSS under 2 GiB (MiB)", rss, TARGET_RSS_MIB))
    return report
