"""Issue 13 slice 3: `scythe cancel` and `scythe resume` of a Slurm run; every spec exactly once.

A run submitted with `--no-wait` returns at once, `scythe status` shows its array elements
queued and running; once a few batches committed, `scythe cancel` scancels the array and the
gather, and nothing of the run stays in Slurm. `scythe resume` submits an array of exactly the
batches without a commit record: the final scalars hold every spec once, and no spec of a batch
committed before the cancel ran again (the trace file counts executions).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

from conftest import scythe

from integration.item_12_cli import only_run, status_json, until, write_design
from scythe.results import load

N, BATCH = 60, 5  # 12 batches of 5 specs of 0.3 s


def _committed(run: Path) -> set[int]:
    return {int(p.parent.name) for p in (run / "scatter-gather" / "results").glob("*/_SUCCESS.json")}


def test_cancel_then_resume_runs_every_spec_once(tmp_path: Path, slurm_env: dict[str, str]) -> None:
    trace = tmp_path / "trace.txt"
    rows = [{"x": i, "seconds": 0.3, "trace": str(trace)} for i in range(N)]
    design = write_design(tmp_path / "design.csv", rows)
    store = tmp_path / "store"
    env = {**slurm_env, "SCYTHE_STORE": str(store)}  # `status_json` names no store
    experiment = "integration.item_13_experiments:napper"
    started = time.monotonic()
    args = ["run", experiment, "--design", str(design), "--store", str(store), "--batch-size", str(BATCH)]
    submitted = scythe([*args, "--no-wait", "--quiet"], env, tmp_path, check=True)
    assert time.monotonic() - started < 30, "--no-wait returns once submitted"
    assert "submitted" in submitted.stdout
    prefix = only_run(str(store))
    run = store / prefix
    first = status_json(prefix, env, tmp_path)
    assert first["backend"] == "slurm"
    assert first["queued"] + first["running"] >= 1, first

    until(lambda: len(_committed(run)) >= 2, "two batches to commit", timeout=90)
    scythe(["cancel", prefix, "--store", str(store)], env, tmp_path, check=True)
    until(
        lambda: (s := status_json(prefix, env, tmp_path))["queued"] == 0 and s["running"] == 0,
        "nothing of the run left in Slurm",
        timeout=60,
    )
    before = _committed(run)
    assert 2 <= len(before) < N // BATCH, before
    after_cancel = status_json(prefix, env, tmp_path)
    assert after_cancel["done"] == len(before)
    assert not after_cancel["gathered"]

    resumed = scythe(["resume", prefix, "--store", str(store), "--quiet"], env, tmp_path)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    scalars = load(prefix, store=str(store))["scalars"].reset_index()
    assert sorted(scalars["sort_index"]) == list(range(N))  # every spec exactly once
    assert sorted(scalars["y"]) == sorted(i * i for i in range(N))
    runs = Counter(int(line) for line in trace.read_text().split())
    assert set(runs) == set(range(N))
    assert all(runs[i] == 1 for b in before for i in range(b * BATCH, (b + 1) * BATCH)), runs
    _, second = json.loads((run / "scatter-gather" / "slurm.json").read_text())["submissions"]
    assert [b for a in second["arrays"] for b in a["batches"]] == sorted(set(range(N // BATCH)) - before)
    print(f"cancel after {len(before)} batches, resumed {len(second['arrays'][0]['batches'])}")
