"""Embedded backend vs a bare `ProcessPoolExecutor.map` over the same function.

Two jobs, on as many processes as the machine has cores:
- trivial: N specs whose function returns at once (framework overhead only);
- spin: 200 specs that each burn 50 ms of CPU (utilisation = useful CPU-seconds ÷ (wall × workers)).

Every contender starts from the same rows in memory and ends with every output computed. Scythe's
figure is `scythe.allocate(...)` end to end: validate, write the run, execute, gather scalars.pq.
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import shutil
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
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
    run_child,
)

SIZES: dict[str, dict[str, int]] = {
    "smoke": {"trivial": 2_000, "spin": 20},
    "full": {"trivial": 100_000, "spin": 200},
}
TARGET_RATIO = 1.3
TARGET_UTILISATION = 0.9


def workers() -> int:
    return len(os.sched_getaffinity(0))


def _cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def child_scythe(n: int, experiment: str, workers: int) -> dict[str, Any]:
    """scythe.allocate on the embedded backend: design in, final/scalars.pq out."""
    import pandas as pd

    import scythe.backends.embedded
    import scythe.run.gather  # noqa: F401  (imports are the process's one-off cost: not timed for anyone)
    from bench import experiments
    from scythe.run.allocation import allocate

    store = OUT / "tmp" / f"embedded-{uuid.uuid4().hex[:8]}"
    design = pd.DataFrame({"x": [float(i) for i in range(n)]})
    exp = getattr(experiments, experiment)
    cpu0 = _cpu_of_children()
    started = time.perf_counter()
    result = allocate(exp, design, store=str(store), backend="embedded", workers=workers, progress=False)
    seconds = time.perf_counter() - started
    cpu = _cpu_of_children() - cpu0
    shutil.rmtree(store, ignore_errors=True)
    if result.succeeded != n:
        raise RuntimeError(f"scythe ran {result.succeeded} of {n} specs ({result.failed} failed)")
    return {"seconds": seconds, "worker_cpu": cpu}


def child_pool(n: int, experiment: str, workers: int, chunksize: int, write: bool) -> dict[str, Any]:
    """The bare baseline: validate the rows, `pool.map` the same function, optionally write Parquet."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from pydantic import TypeAdapter

    from bench import experiments

    call = experiments.call_noop if experiment == "noop" else experiments.call_spin
    rows = [{"x": float(i), "sort_index": i} for i in range(n)]
    adapter = TypeAdapter(list[experiments.PointInput])
    dest = OUT / "tmp" / f"pool-{uuid.uuid4().hex[:8]}.pq"
    cpu0 = _cpu_of_children()
    started = time.perf_counter()
    specs = adapter.validate_python(rows)
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        outputs = list(pool.map(call, specs, chunksize=chunksize))
    if write:
        table = pa.Table.from_pylist(
            [{"sort_index": s.sort_index, "x": s.x, "y": o.y} for s, o in zip(specs, outputs, strict=True)]
        )
        dest.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, dest)
    seconds = time.perf_counter() - started
    cpu = _cpu_of_children() - cpu0
    dest.unlink(missing_ok=True)
    if len(outputs) != n:
        raise RuntimeError(f"the pool returned {len(outputs)} of {n} outputs")
    return {"seconds": seconds, "worker_cpu": cpu}


def _child(target: str, **params: Any) -> dict[str, Any]:
    return run_child(f"bench.embedded:{target}", params).data


def run(size: Size, reps: int) -> Report:
    from scythe.run.allocation import auto_batch_size

    w = workers()
    n, n_spin = SIZES[size]["trivial"], SIZES[size]["spin"]
    batch = auto_batch_size(n)
    trivial = Comparison(
        f"embedded, {fmt_int(n)} trivial specs, {w} processes: wall seconds",
        for_size(
            size,
            [
                Contender(
                    "scythe embedded",
                    lambda _: _child("child_scythe", n=n, experiment="noop", workers=w),
                    f"scythe.allocate(): validate, write run, {n // batch} batches of {batch}, gather",
                    is_scythe=True,
                ),
                Contender(
                    f"pool.map chunksize={batch} (limit)",
                    lambda _: _child(
                        "child_pool", n=n, experiment="noop", workers=w, chunksize=batch, write=False
                    ),
                    "validate rows, ProcessPoolExecutor.map, outputs kept in memory",
                ),
                Contender(
                    f"pool.map chunksize={batch} + parquet",
                    lambda _: _child(
                        "child_pool", n=n, experiment="noop", workers=w, chunksize=batch, write=True
                    ),
                    "as the limit, plus one pyarrow write of inputs + outputs",
                    full_only=True,
                ),
                Contender(
                    "pool.map chunksize=1 (default)",
                    lambda _: _child(
                        "child_pool", n=n, experiment="noop", workers=w, chunksize=1, write=False
                    ),
                    "what an unsuspecting user writes",
                    full_only=True,
                ),
            ],
        ),
    ).measure(reps)
    for samples in trivial.samples.values():
        for s in samples:
            s["specs_per_s"] = n / s["seconds"]

    useful = n_spin * 0.05
    spin = Comparison(
        f"embedded, {n_spin} specs × 50 ms CPU, {w} processes: utilisation",
        [
            Contender(
                "scythe embedded",
                lambda _: _child("child_scythe", n=n_spin, experiment="spin", workers=w),
                f"batches of {auto_batch_size(n_spin)}",
                is_scythe=True,
            ),
            Contender(
                "pool.map chunksize=1 (limit)",
                lambda _: _child(
                    "child_pool", n=n_spin, experiment="spin", workers=w, chunksize=1, write=False
                ),
            ),
        ],
    ).measure(reps)
    for samples in spin.samples.values():
        for s in samples:
            s["utilisation"] = useful / (s["seconds"] * w)
            s["cpu_utilisation"] = s["worker_cpu"] / (s["seconds"] * w)

    report = Report("embedded", size)
    report.tables.append(
        (
            trivial,
            [
                Column("seconds", "seconds", ratio=True),
                Column("specs/s", "specs_per_s", "{:,.0f}"),
            ],
        )
    )
    report.tables.append(
        (
            spin,
            [
                Column("seconds", "seconds", ratio=True),
                Column("utilisation", "utilisation", "{:.1%}"),
                Column("worker CPU ÷ (wall × procs)", "cpu_utilisation", "{:.1%}"),
            ],
        )
    )
    limit = trivial.median(trivial.contenders[1].name)
    mine = trivial.median("scythe embedded")
    assert limit is not None
    assert mine is not None
    report.verdicts.append(
        Verdict(f"embedded within {TARGET_RATIO}× of the bare pool (trivial)", mine / limit, TARGET_RATIO)
    )
    util = spin.median("scythe embedded", "utilisation")
    assert util is not None
    report.verdicts.append(
        Verdict("≥ 90 % utilisation on 50 ms specs", util, TARGET_UTILISATION, higher_is_better=True)
    )
    report.notes.append(
        f"utilisation = {n_spin} × 50 ms of CPU ÷ (wall × {w} processes); "
        "any other load on the machine lowers it for every contender"
    )
    return report
