"""Runs built in memory for the summary and report tests (issue 14, items 2 and 3).

The tables follow the final tables' contract: scalars indexed by the bookkeeping levels and the
inputs, errors by the same index, and timings (one row per spec: seconds, attempts, batch,
started, finished, worker, status, reused_from) as gather writes `final/timings.pq`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from scythe.results.summary import RunData
from scythe.run.layout import RunRef

REF = RunRef(store="/nowhere", experiment="toy", version="v1.0.0", run_id="2026-01-01_00-00-00")
T0 = pd.Timestamp("2026-01-01 00:00:00", tz="UTC")


def index(sort: list[int], x: list[float], mode: list[str]) -> pd.MultiIndex:
    return pd.MultiIndex.from_arrays(
        [[REF.prefix] * len(sort), sort, [REF.run_id] * len(sort), x, mode],
        names=["experiment_id", "sort_index", "root_workflow_run_id", "x", "mode"],
    )


def timings_frame(
    sort: list[int],
    seconds: list[float],
    started: list[float],
    workers: list[str],
    batches: list[int],
    status: list[str],
) -> pd.DataFrame:
    """A timings table per the contract; `started` in seconds after T0, `finished` = started + seconds."""
    n = len(sort)
    reused = [s == "reused" for s in status]
    start = [None if r else T0 + pd.Timedelta(seconds=s) for s, r in zip(started, reused, strict=True)]
    end = [
        None if r else T0 + pd.Timedelta(seconds=s + d)
        for s, d, r in zip(started, seconds, reused, strict=True)
    ]
    return pd.DataFrame(
        {
            "seconds": np.asarray(seconds, dtype="float64"),
            "attempts": np.ones(n, dtype="int64"),
            "batch": np.asarray(batches, dtype="int64"),
            "started": pd.Series(start, dtype="datetime64[us, UTC]").array,
            "finished": pd.Series(end, dtype="datetime64[us, UTC]").array,
            "worker": [None if r else w for w, r in zip(workers, reused, strict=True)],
            "status": status,
            "reused_from": [("2025-12-31_00-00-00" if r else None) for r in reused],
        },
        index=index(sort, [float(i) for i in sort], ["a"] * n),
    )


def toy_run(
    n: int = 40,
    failed: dict[int, tuple[str, str]] | None = None,
    with_timings: bool = True,
    **facts: Any,
) -> RunData:
    """`n` specs of y = x², x = sort_index, a text output; `failed` maps sort_index → (type, message).

    With timings: two workers, batches of 10, each spec 1 s long, one after the other per worker.
    """
    failed = failed or {}
    ok = [i for i in range(n) if i not in failed]
    scalars = pd.DataFrame(
        {"y": [float(i * i) for i in ok], "label": ["even" if i % 2 == 0 else "odd" for i in ok]},
        index=index(ok, [float(i) for i in ok], ["a" if i % 3 else "b" for i in ok]),
    )
    bad = sorted(failed)
    errors = pd.DataFrame(
        {
            "error_type": [failed[i][0] for i in bad],
            "message": [failed[i][1] for i in bad],
            "traceback": [
                f"Traceback (most recent call last):\n  spec {i}\n{failed[i][0]}: {failed[i][1]}" for i in bad
            ],
            "attempts": [1] * len(bad),
        },
        index=index(bad, [float(i) for i in bad], ["a"] * len(bad)),
    )
    timings = None
    if with_timings:
        sort = list(range(n))
        workers = [f"host:{100 + i % 2}" for i in sort]
        started = [float(i // 2) for i in sort]  # two at a time, one second each
        status = ["failed" if i in failed else "ok" for i in sort]
        timings = timings_frame(sort, [1.0] * n, started, workers, [i // 10 for i in sort], status)
    counts = {"succeeded": len(ok), "failed": len(bad), "files": {}}
    return RunData(
        REF, None, {**counts, **facts}, scalars, errors, timings, final="/nowhere/final", tables=["scalars"]
    )
