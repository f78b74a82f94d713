"""Allocation: validate + write N specs of the building-energy input spec, vs pydantic alone.

Every contender starts from the same design, a DataFrame read from one Parquet file before the
clock starts (LHS inside the schema's bounds, the example's three weather files in turn), and
ends with:
- scythe: `scythe.run.allocation.prepare()` — what `scythe.allocate()` does before fanning out:
  validate every row, check and upload the input files, write specs.pq, the per-batch inputs,
  the io spec and the manifest to a local store;
- pydantic alone (the limit): `TypeAdapter(list[BuildingEnergyInput]).validate_python(rows)`;
- pydantic + pyarrow: the same, then the validated specs dumped and written as one specs.pq;
- pydantic in chunks: the same work 10,000 rows at a time, streamed to specs.pq: what bounded
  memory costs in time and saves in RSS (what Scythe could do; see bench/RESULTS.md).
Peak RSS is each child's own (os.wait4), so it includes the interpreter and the design itself.
"""

from __future__ import annotations

import shutil
import time
import uuid
from pathlib import Path
from typing import Any

from bench.common import (
    EXAMPLE_SRC,
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
TARGET_SECONDS = 30.0
TARGET_RSS_MIB = 2048.0
WEATHER = sorted((EXAMPLE_SRC.parent / "data" / "weather").glob("*.csv"))


def design_file(n: int) -> Path:
    """The design as Parquet, made once per size (seeded: the same rows every time)."""
    path = OUT / "data" / f"building-design-{n}.pq"
    if path.is_file():
        return path
    importable_example()
    from building_energy.specs import BuildingEnergyInput

    from scythe.sampling import sample_design

    design = sample_design(BuildingEnergyInput, n, "lhs", seed=0, fixed={"weather_file": str(WEATHER[0])})
    design["weather_file"] = [str(WEATHER[i % len(WEATHER)]) for i in range(n)]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    design.to_parquet(tmp, index=False)
    tmp.rename(path)
    return path


def child_scythe(design: str) -> dict[str, Any]:
    import pandas as pd
    from building_energy.experiment import simulate

    from scythe.run.allocation import prepare
    from scythe.store import LocalStore

    frame = pd.read_parquet(design)
    before = peak_rss_so_far_mib()
    root = OUT / "tmp" / f"alloc-{uuid.uuid4().hex[:8]}"
    started = time.perf_counter()
    allocation = prepare(simulate, frame, store=LocalStore(root), version="v1.0.0")
    seconds = time.perf_counter() - started
    written = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    shutil.rmtree(root, ignore_errors=True)
    if allocation.manifest.n_specs != len(frame):
        raise RuntimeError(f"allocated {allocation.manifest.n_specs} of {len(frame)} specs")
    return {"seconds": seconds, "rss_before_mib": before, "bytes_written": written}


def child_pydantic(design: str, write: bool) -> dict[str, Any]:
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq
    from building_energy.specs import BuildingEnergyInput
    from pydantic import TypeAdapter

    frame = pd.read_parquet(design)
    before = peak_rss_so_far_mib()
    adapter = TypeAdapter(list[BuildingEnergyInput])
    dest = OUT / "tmp" / f"specs-{uuid.uuid4().hex[:8]}.pq"
    started = time.perf_counter()
    rows = frame.to_dict("records")
    for i, row in enumerate(rows):
        row["sort_index"] = i
    specs = adapter.validate_python(rows)
    if write:
        dest.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(adapter.dump_python(specs, mode="json")), dest)
    seconds = time.perf_counter() - started
    dest.unlink(missing_ok=True)
    if len(specs) != len(frame):
        raise RuntimeError("lost rows")
    return {"seconds": seconds, "rss_before_mib": before}


def child_chunked(design: str, chunk: int) -> dict[str, Any]:
    """Per-row pydantic as above, but `chunk` rows at a time, each chunk streamed to specs.pq."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq
    from building_energy.specs import BuildingEnergyInput
    from pydantic import TypeAdapter

    frame = pd.read_parquet(design)
    before = peak_rss_so_far_mib()
    adapter = TypeAdapter(list[BuildingEnergyInput])
    dest = OUT / "tmp" / f"specs-{uuid.uuid4().hex[:8]}.pq"
    dest.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    writer = None
    count = 0
    for lo in range(0, len(frame), chunk):
        rows = frame.iloc[lo : lo + chunk].to_dict("records")
        for i, row in enumerate(rows, start=lo):
            row["sort_index"] = i
        table = pa.Table.from_pylist(adapter.dump_python(adapter.validate_python(rows), mode="json"))
        writer = writer or pq.ParquetWriter(dest, table.schema)
        writer.write_table(table)
        count += len(table)
    if writer is not None:
        writer.close()
    seconds = time.perf_counter() - started
    dest.unlink(missing_ok=True)
    if count != len(frame):
        raise RuntimeError("lost rows")
    return {"seconds": seconds, "rss_before_mib": before}


def run(size: Size, reps: int) -> Report:
    n = SIZES[size]
    path = str(design_file(n))

    def sample(target: str, **params: Any) -> dict[str, Any]:
        result = run_child(f"bench.allocation:{target}", {"design": path, **params})
        return {**result.data, "peak_rss_mib": result.peak_rss_mib}

    comparison = Comparison(
        f"allocation, {fmt_int(n)} building-energy specs: seconds and peak RSS",
        for_size(
            size,
            [
                Contender(
                    "scythe prepare()",
                    lambda _: sample("child_scythe"),
                    "validate, check files, write specs.pq + batch inputs + manifest (local store)",
                    is_scythe=True,
                ),
                Contender(
                    "pydantic alone (limit)",
                    lambda _: sample("child_pydantic", write=False),
                    "DataFrame → records → TypeAdapter(list[Spec]).validate_python",
                ),
                Contender(
                    "pydantic + pyarrow write",
                    lambda _: sample("child_pydantic", write=True),
                    "the same, then dump_python + one specs.pq",
                    full_only=True,
                ),
                Contender(
                    "pydantic in 10k-row chunks → pyarrow",
                    lambda _: sample("child_chunked", chunk=10_000),
                    "the same work, 10,000 rows at a time, streamed to one specs.pq (bounded memory)",
                    full_only=True,
                ),
            ],
        ),
    ).measure(reps)
    report = Report("allocation", size)
    report.tables.append(
        (
            comparison,
            [
                Column("seconds", "seconds", ratio=True),
                Column("peak RSS MiB", "peak_rss_mib", "{:,.0f}", ratio=True, label="RSS"),
                Column("RSS before MiB", "rss_before_mib", "{:,.0f}"),
            ],
        )
    )
    seconds = comparison.median("scythe prepare()")
    rss = comparison.median("scythe prepare()", "peak_rss_mib")
    assert seconds is not None
    assert rss is not None
    if size == "full":
        report.verdicts.append(
            Verdict(f"allocation of {fmt_int(n)} specs under 30 s", seconds, TARGET_SECONDS)
        )
        report.verdicts.append(Verdict("allocation peak RSS under 2 GiB (MiB)", rss, TARGET_RSS_MIB))
    report.notes.append(
        "RSS before = the child's peak once the design DataFrame is loaded, before the clock starts"
    )
    return report
