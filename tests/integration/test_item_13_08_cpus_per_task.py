"""Issue 13 item 1: specs inside an array element run on every CPU Slurm gives it.

One element of `--cpus-per-task 2` runs its batch of 4 specs in 2 spec processes at once: each
spec waits until a spec of another process has started (`worker_witness`), so running side by
side is shown by the specs themselves, with no timing assumption; before, an element ran its
specs one after another in one process and no spec met another."""

from __future__ import annotations

from pathlib import Path

from conftest import scythe

from integration.item_12_cli import only_run, write_design
from scythe.results import load


def test_item_13_01_an_element_spreads_its_specs_over_its_cpus(
    tmp_path: Path, slurm_env: dict[str, str]
) -> None:
    rows = [{"x": float(i), "meet": str(tmp_path / "meet")} for i in range(4)]
    design = write_design(tmp_path / "design.csv", rows)
    store = tmp_path / "store"
    args = ["run", "worker_witness:witness", "--design", str(design), "--store", str(store)]
    done = scythe([*args, "--batch-size", "4", "--cpus-per-task", "2", "--quiet"], slurm_env, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    scalars = load(only_run(str(store)), store=str(store))["scalars"]
    assert len(scalars) == 4
    assert scalars["pid"].nunique() == 2
    assert scalars["met"].all()
