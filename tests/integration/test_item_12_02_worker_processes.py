"""Issue 12 item 2 on the real stack: one `scythe worker` runs a batch's specs in several spec
processes at once, and a segfault or an overrun in that mode still fails only its own spec.

Each run is ONE batch (`batch_size` = every spec): with one spec process per batch, its specs
would run one after another in one process; the specs record their pid and meet a spec of
another process (see `worker_witness`), so running side by side is shown by the specs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from integration.conftest import Stack
from integration.item_12_workers import Workers, workers  # noqa: F401 (the fixture)
from scythe import allocate
from scythe.results import load


def overlapping(scalars: pd.DataFrame) -> bool:
    """Whether two specs of different processes ran at the same time."""
    rows = scalars[["pid", "started", "ended"]].to_dict("records")
    return any(
        a["pid"] != b["pid"] and a["started"] < b["ended"] and b["started"] < a["ended"]
        for a in rows
        for b in rows
    )


def test_item_12_02_one_worker_runs_a_batch_in_parallel_processes(
    stack_env: Stack,
    workers: Workers,  # noqa: F811
    tmp_path: Path,
) -> None:
    from worker_witness import witness

    workers.start("worker_witness:witness", "--processes", "2")
    uri = stack_env.store("processes")
    design = [{"x": float(i), "meet": str(tmp_path / "meet")} for i in range(8)]
    result = allocate(witness, design, store=uri, backend="hatchet", batch_size=8, progress=False)
    assert (result.succeeded, result.failed, result.batches.split()[0]) == (8, 0, "1")
    scalars = load(result.run.prefix, store=uri)["scalars"]
    assert scalars["pid"].nunique() == 2
    assert scalars["met"].all()
    assert overlapping(scalars)


def test_item_12_02_a_segfault_and_a_timeout_fail_alone_with_processes(
    stack_env: Stack,
    workers: Workers,  # noqa: F811
    tmp_path: Path,
) -> None:
    from worker_witness import witness

    workers.start("worker_witness:witness", "--processes", "2")
    uri = stack_env.store("processes-doom")
    design: list[dict[str, object]] = [{"x": float(i)} for i in range(8)]
    for meeting in (0, 4):  # the first spec of each process's share: they run side by side
        design[meeting].update(meet=str(tmp_path / "meet"), hold=0.5)
    design[1]["how"], design[5]["how"] = "segfault", "swallow"
    result = allocate(witness, design, store=uri, backend="hatchet", batch_size=8, progress=False)
    assert (result.succeeded, result.failed) == (6, 2)
    frames = load(result.run.prefix, store=uri)
    errors = frames["errors"].reset_index().set_index("sort_index")
    assert errors["error_type"].to_dict() == {1: "WorkerDied", 5: "Timeout"}
    assert "signal 11 (SIGSEGV)" in errors.loc[1, "message"]
    scalars = frames["scalars"].reset_index().set_index("sort_index")
    assert sorted(scalars.index) == [0, 2, 3, 4, 6, 7]
    assert scalars.loc[[0, 4], "met"].tolist() == [True, True]
    assert overlapping(scalars.loc[[0, 4]])
