"""Issue 13 slice 2: `scythe run --backend slurm` runs the batches as one job array and gathers in
a job depending on it; the final files equal the embedded run's (apart from run ids).

200 specs of `square` (one raises, x = 13: errors.pq as well), run on the embedded pool and on the
local Slurm from the same design. The run records its one array and its gather job in the store
(`scatter-gather/slurm.json`), each element's output names its batch, and the gather job ran
after every element (`afterany`).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd
from conftest import scythe

from integration.item_12_cli import only_run, write_design
from scythe.results import load

N = 200
TIMED_ALIKE = ["sort_index", "status", "attempts"]  # the timings columns equal across backends
RUN_IDS = ["experiment_id", "root_workflow_run_id"]


def _tables(prefix: str, store: Path) -> dict[str, pd.DataFrame]:
    frames = load(prefix, store=str(store))
    assert set(frames) >= {"scalars", "errors", "series"}, frames.keys()
    out = {}
    for name, frame in frames.items():
        frame = frame.reset_index().drop(columns=[c for c in RUN_IDS if c in frame.reset_index()])
        out[name] = frame.drop(columns=["traceback"]) if name == "errors" else frame
    # How long, when and where a spec ran differ from run to run (and batches from plan to plan):
    # what each spec's run came to is the same.
    out["timings"] = out["timings"][TIMED_ALIKE]
    return out


def test_slurm_run_equals_embedded_run(tmp_path: Path, slurm_env: dict[str, str]) -> None:
    design = write_design(tmp_path / "design.csv", [{"x": i / 2, "n": 1 + i % 3} for i in range(N)])
    embedded, slurm = tmp_path / "embedded", tmp_path / "slurm"
    args = ["run", "sample_experiments:square", "--design", str(design), "--quiet"]
    done = scythe([*args, "--store", str(embedded), "--backend", "embedded"], slurm_env, tmp_path)
    assert done.returncode == 3, done.stderr  # x = 13 raises
    started = time.monotonic()
    done = scythe([*args, "--store", str(slurm)], slurm_env, tmp_path)
    took = time.monotonic() - started
    assert done.returncode == 3, done.stdout + done.stderr
    assert "batches  " in done.stdout
    prefix = only_run(str(slurm))
    mine, theirs = _tables(prefix, slurm), _tables(only_run(str(embedded)), embedded)
    assert mine.keys() == theirs.keys()
    for name in mine:
        pd.testing.assert_frame_equal(mine[name], theirs[name], obj=name)
    assert len(mine["scalars"]) == N - 1
    assert list(mine["errors"]["message"]) == ["thirteen is unlucky"]

    run = slurm / prefix
    manifest_batches = int(
        next(
            line for line in (run / "manifest.yml").read_text().splitlines() if line.startswith("n_batches:")
        ).split(":")[1]
    )
    (submission,) = json.loads((run / "scatter-gather" / "slurm.json").read_text())["submissions"]
    (array,) = submission["arrays"]  # every batch in ONE job array
    assert array["batches"] == list(range(manifest_batches))
    assert manifest_batches > 1
    logs = run / "scatter-gather" / "slurm"
    for b in range(manifest_batches):
        text = (logs / f"batch-{array['job_id']}_{b - array['offset']}.out").read_text()
        assert text.startswith(f"batch {b}: "), text
    gather_log = (logs / f"gather-{submission['gather']}.out").read_text()
    assert "gathered: 199 ok, 1 failed" in gather_log
    element_done = max(
        (logs / f"batch-{array['job_id']}_{b}.out").stat().st_mtime for b in range(manifest_batches)
    )
    assert (logs / f"gather-{submission['gather']}.out").stat().st_mtime >= element_done
    print(f"slurm run of {N} specs in {manifest_batches} batches: {took:.1f} s")


def test_resources_slurm_refuses_stop_the_run_before_anything_is_written(
    tmp_path: Path, slurm_env: dict[str, str]
) -> None:
    design = write_design(tmp_path / "design.csv", [{"x": 1}])
    store = tmp_path / "store"
    args = ["run", "sample_experiments:square", "--design", str(design), "--store", str(store)]
    for bad, said in (("--partition=nope", "Invalid partition"), ("--time=soon", "Invalid --time")):
        done = scythe([*args, bad], slurm_env, tmp_path)
        assert done.returncode == 1, done.stdout + done.stderr
        (line,) = done.stderr.strip().splitlines()
        assert line.startswith("error: cannot check the run's sbatch options: sbatch says: "), line
        assert said in line
    assert not store.exists() or not any(store.rglob("manifest.yml"))
