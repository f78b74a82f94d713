"""Issue 13 slice 1: a local Slurm in one command.

`scythe dev up --slurm` starts munge, slurmctld and slurmd detached, records each pid in the state
folder, prints `export SLURM_CONF=…` (a second `up` reuses the cluster), the cluster runs a job
array, and `scythe dev down` stops every daemon. Without the packages, the one line names
`apt-get install slurm-wlm munge`.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

from conftest import scythe

from scythe.dev.processes import process_start_time, wait_until
from scythe.dev.slurm import missing_slurm


def _slurm(argv: list[str], conf: str) -> str:
    env = {**os.environ, "SLURM_CONF": conf}
    return subprocess.run(argv, env=env, capture_output=True, text=True, check=True, timeout=30).stdout


def test_dev_up_slurm_runs_an_array_and_down_stops_it(tmp_path: Path, cli_env: dict[str, str]) -> None:
    env = {**cli_env, "SCYTHE_DEV_DIR": str(tmp_path / "dev")}
    started = time.monotonic()
    up = scythe(["dev", "up", "--slurm"], env, tmp_path, check=True)
    took = time.monotonic() - started
    (line,) = up.stdout.splitlines()
    assert line.startswith("export SLURM_CONF="), up.stdout
    conf = line.removeprefix("export SLURM_CONF=")
    assert Path(conf).is_file()
    assert Path(conf).is_relative_to(tmp_path / "dev")
    assert "SlurmctldHost=localhost" in Path(conf).read_text()
    state = json.loads((tmp_path / "dev" / "slurm.json").read_text())
    pids = state["pids"]
    assert set(pids) == {"slurm-munged", "slurm-slurmctld", "slurm-slurmd"}
    assert all(process_start_time(pid) is not None for pid in pids.values())
    try:
        again = scythe(["dev", "up", "--slurm"], env, tmp_path, check=True)
        assert again.stdout == up.stdout
        assert "already up" in again.stderr
        assert json.loads((tmp_path / "dev" / "slurm.json").read_text())["pids"] == pids
        out = tmp_path / "out"
        out.mkdir()
        job = _slurm(
            [
                "sbatch",
                "--parsable",
                "--array=0-2",
                f"--output={out}/%a.txt",
                "--wrap",
                "echo hi $SLURM_ARRAY_TASK_ID",
            ],
            conf,
        ).strip()
        wait_until(lambda: not _slurm(["squeue", "-h", "-j", job], conf).strip(), "the array", timeout=60)
        assert sorted(p.read_text() for p in out.iterdir()) == [f"hi {i}\n" for i in range(3)]
    finally:
        down = scythe(["dev", "down"], env, tmp_path, check=True)
    assert "slurm-slurmd" in down.stderr
    assert all(process_start_time(pid) is None for pid in pids.values())
    assert not (tmp_path / "dev" / "slurm.json").exists()
    print(f"dev up --slurm: {took:.1f} s")


def test_missing_packages_name_the_install(tmp_path: Path) -> None:
    (line,) = missing_slurm(path=str(tmp_path))
    assert line.endswith(": apt-get install slurm-wlm munge")
    assert "slurmctld" in line
    assert missing_slurm() == []  # this machine has them (the other tests use them)
