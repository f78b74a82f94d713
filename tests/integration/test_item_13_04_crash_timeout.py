"""Issue 13: on Slurm, a spec that segfaults and one past its timeout fail alone.

Both land in errors.pq (`WorkerDied … SIGSEGV`, `Timeout`) through the shared task path's spec
process, every other spec of their batches and of the run lands in scalars.pq, and the run is
gathered by its gather job as usual (exit 3: some specs failed).
"""

from __future__ import annotations

from pathlib import Path

from conftest import scythe

from integration.item_12_cli import only_run, write_design
from scythe.results import load

N = 20


def test_segfault_and_timeout_fail_alone(tmp_path: Path, slurm_env: dict[str, str]) -> None:
    how = {3: "segfault", 11: "swallow"}  # swallow: catches the alarm, killed 2 s past 0.3 s
    rows = [{"x": i, "how": how.get(i, "ok")} for i in range(N)]
    design = write_design(tmp_path / "design.csv", rows)
    store = tmp_path / "store"
    args = ["run", "sample_experiments:doomed", "--design", str(design), "--store", str(store)]
    done = scythe([*args, "--batch-size", "10", "--quiet"], slurm_env, tmp_path)
    assert done.returncode == 3, done.stdout + done.stderr
    frames = load(only_run(str(store)), store=str(store))
    errors = frames["errors"].reset_index().set_index("sort_index")
    assert sorted(errors.index) == [3, 11]
    assert errors.loc[3, "error_type"] == "WorkerDied"
    assert "SIGSEGV" in errors.loc[3, "message"]
    assert errors.loc[11, "error_type"] == "Timeout"
    scalars = frames["scalars"].reset_index()
    assert sorted(scalars["sort_index"]) == sorted(set(range(N)) - {3, 11})
    assert list(scalars.sort_values("sort_index")["y"]) == [float(i * i) for i in range(N) if i not in how]
