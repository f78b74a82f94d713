"""Issue 13's acceptance run: the building-energy example, 2,000 specs, on the local Slurm.

The example's own `scripts/allocate.py` (no code change: `SCYTHE_BACKEND=slurm` picks the
backend) gives final files equal to the embedded run's, apart from run ids.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
from conftest import EXAMPLE

from integration.item_12_cli import only_run
from scythe.results import load

N = 2000
TIMED_ALIKE = ["sort_index", "status", "attempts"]  # the timings columns equal across backends
RUN_IDS = ["experiment_id", "root_workflow_run_id"]


def _allocate(store: Path, env: dict[str, str], cwd: Path) -> float:
    started = time.monotonic()
    done = subprocess.run(
        [
            sys.executable,
            str(EXAMPLE / "scripts" / "allocate.py"),
            "--n",
            str(N),
            "--store",
            str(store),
            "--quiet",
        ],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return time.monotonic() - started


def _final(store: Path) -> dict[str, pd.DataFrame]:
    """The run's final tables without its run ids, its own URIs (input files) made relative to it."""
    prefix = only_run(str(store))
    here = f"file://{store / prefix}/"
    out = {}
    for name, frame in load(prefix, store=str(store)).items():
        flat = frame.reset_index().drop(columns=[c for c in RUN_IDS if c in frame.index.names])
        for column in flat.columns:
            if pd.api.types.is_string_dtype(flat[column]):
                flat[column] = flat[column].map(
                    lambda v: v.replace(here, "RUN/") if isinstance(v, str) else v
                )
        out[name] = flat
    out["timings"] = out["timings"][TIMED_ALIKE]  # when and where specs ran differ by design
    return out


def test_building_energy_on_slurm_equals_embedded(tmp_path: Path, slurm_env: dict[str, str]) -> None:
    env = {**slurm_env, "PYTHONPATH": os.pathsep.join([str(EXAMPLE / "src"), slurm_env["PYTHONPATH"]])}
    embedded = _allocate(tmp_path / "embedded", {**env, "SCYTHE_BACKEND": "embedded"}, tmp_path)
    on_slurm = _allocate(tmp_path / "slurm", env, tmp_path)
    mine, theirs = _final(tmp_path / "slurm"), _final(tmp_path / "embedded")
    assert mine.keys() == theirs.keys()
    assert {"scalars", "errors", "monthly"} <= mine.keys()
    for name in mine:
        pd.testing.assert_frame_equal(mine[name], theirs[name], obj=name)
    assert len(mine["scalars"]) == N
    print(f"building energy, {N} specs: embedded {embedded:.1f} s, slurm {on_slurm:.1f} s")
