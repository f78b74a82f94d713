"""Issue 13: a batch that outlives its walltime is named, and `resume --time …` finishes it.

Batch 1 of 3 waits on a file (the test's knob) past `--time 1` (a minute, the least Slurm
grants; slurmctld enforces limits every 30 s, hence the ~90 s wait). The run ends with one line
saying that batch 1 hit the walltime and how to resume; `scythe status` counts it failed. With
the knob removed, `scythe resume --time 5` submits batch 1 alone with the new walltime and the
run gathers with every spec once.
"""

from __future__ import annotations

import json
from pathlib import Path

from conftest import scythe

from integration.item_12_cli import only_run, status_json, write_design
from scythe.results import load

N, BATCH = 6, 2


def test_walltime_is_reported_and_resume_with_more_time_finishes(
    tmp_path: Path, slurm_env: dict[str, str]
) -> None:
    hold = tmp_path / "hold"
    hold.touch()
    rows = [{"x": i, "hold": str(hold) if i // BATCH == 1 else ""} for i in range(N)]
    design = write_design(tmp_path / "design.csv", rows)
    store = tmp_path / "store"
    env = {**slurm_env, "SCYTHE_STORE": str(store)}
    args = ["run", "integration.item_13_experiments:napper", "--design", str(design)]
    done = scythe([*args, "--batch-size", str(BATCH), "--time", "1", "--quiet"], env, tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    said = done.stderr.replace("\n", " ")
    print(done.stderr)
    assert "1 of 3 batches did not finish: batch 1 hit the walltime (walltime 1)" in said, done.stderr
    assert "--time runs the rest" in said or "longer --time" in said, done.stderr
    prefix = only_run(str(store))
    state = status_json(prefix, env, tmp_path)
    assert (state["done"], state["failed"], state["running"], state["queued"]) == (2, 1, 0, 0), state

    hold.unlink()
    resumed = scythe(["resume", prefix, "--time", "5", "--quiet"], env, tmp_path)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    scalars = load(prefix, store=str(store))["scalars"].reset_index()
    assert sorted(scalars["sort_index"]) == list(range(N))
    _, again = json.loads((store / prefix / "scatter-gather" / "slurm.json").read_text())["submissions"]
    assert again["time"] == "5"
    assert [a["batches"] for a in again["arrays"]] == [[1]]
