"""Issue 13: batches fit Slurm's economics and its `MaxArraySize`.

On a cluster whose `MaxArraySize` is 4 (indices 0-3), a run of 10 batches is submitted as three
arrays with offsets (0-3, 4-7, 8-9) and one gather depending on all three, and every spec lands
once. Batch sizing with the Slurm backend's per-element overhead never makes 10 ms specs into
thousands of 10 ms array elements.
"""

from __future__ import annotations

import json
from pathlib import Path

from conftest import scythe

from integration.item_12_cli import only_run, write_design
from scythe.backends.embedded import EmbeddedBackend
from scythe.backends.slurm import SlurmBackend
from scythe.dev.slurm import local_slurm
from scythe.results import load
from scythe.run import batching


def test_run_is_cut_into_arrays_below_max_array_size(tmp_path: Path, cli_env: dict[str, str]) -> None:
    design = write_design(tmp_path / "design.csv", [{"x": i} for i in range(30) if i != 13])
    store = tmp_path / "store"
    with local_slurm(tmp_path / "slurm", max_array_size=4) as cluster:
        env = {**cli_env, **cluster.env(), "SCYTHE_BACKEND": "slurm"}
        args = ["run", "sample_experiments:square", "--design", str(design), "--store", str(store)]
        done = scythe([*args, "--batch-size", "3", "--quiet"], env, tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
    prefix = only_run(str(store))
    (submission,) = json.loads((store / prefix / "scatter-gather" / "slurm.json").read_text())["submissions"]
    arrays = [(a["offset"], a["batches"]) for a in submission["arrays"]]
    assert arrays == [(0, [0, 1, 2, 3]), (4, [4, 5, 6, 7]), (8, [8, 9])]
    scalars = load(prefix, store=str(store))["scalars"].reset_index()
    assert sorted(scalars["sort_index"]) == list(range(29))


def test_tiny_specs_make_few_long_elements() -> None:
    for n in (2_000, 20_000):  # 20 s and 200 s of 10 ms specs on a 2-CPU partition
        chosen = batching.plan(n, slots=2, spec_seconds=0.01, batch_overhead=SlurmBackend.batch_overhead)
        assert chosen.size * 0.01 >= 10, chosen  # ≥ 10 s of work an element, not thousands of elements
    slurm = batching.plan(2_000, slots=2, spec_seconds=0.01, batch_overhead=SlurmBackend.batch_overhead)
    local = batching.plan(2_000, slots=2, spec_seconds=0.01, batch_overhead=EmbeddedBackend.batch_overhead)
    assert (slurm.n_batches, local.n_batches) == (2, 8)  # one wave on Slurm; 4 where a task is cheap
