"""The `scythe` command as a user runs it: real subprocesses, real exit codes."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import scythe, slow_run_until_committed

SCYTHE = [sys.executable, "-m", "scythe"]


def only_run(store: Path) -> str:
    runs = [p for p in store.glob("*/*/*") if p.is_dir()]
    assert len(runs) == 1, runs
    return runs[0].relative_to(store).as_posix()


def test_run_show_list_download(tmp_path: Path, store: Path, cli_env: dict[str, str]) -> None:
    design = tmp_path / "design.csv"
    pd.DataFrame({"x": [1.0, 2.0, 3.0], "n": [1, 2, 3]}).to_csv(design, index=False)
    proc = scythe(
        ["run", "sample_experiments:square", "--design", str(design), "--store", str(store), "-q"],
        cli_env,
        tmp_path,
        check=True,
    )
    assert "ok 3  failed 0" in proc.stdout
    run = only_run(store)
    listed = scythe(["results", "list", "--store", str(store)], cli_env, tmp_path, check=True)
    assert run.split("/")[-1] in listed.stdout
    shown = scythe(
        ["results", "show", run, "--table", "scalars", "--store", str(store)], cli_env, tmp_path, check=True
    )
    assert "scalars: 3 rows" in shown.stdout
    dest = tmp_path / "dl"
    scythe(
        ["results", "download", run.split("/")[-1], str(dest), "--store", str(store)],
        cli_env,
        tmp_path,
        check=True,
    )
    scalars = pd.read_parquet(dest / run.split("/")[-1] / "final" / "scalars.pq")
    assert list(scalars["y"]) == [1.0, 4.0, 9.0]


def test_store_from_environment_and_sampling(tmp_path: Path, store: Path, cli_env: dict[str, str]) -> None:
    env = {**cli_env, "SCYTHE_STORE": str(store)}
    proc = scythe(
        ["run", "sample_experiments:square", "--sample", "lhs", "--n", "20", "--set", "mode=fast", "-q"],
        env,
        tmp_path,
    )
    # x is sampled in [0, 100]: x == 13.0 exactly is (almost) impossible, so every spec succeeds.
    assert proc.returncode == 0, proc.stderr
    scalars = pd.read_parquet(store / only_run(store) / "final" / "scalars.pq")
    assert len(scalars) == 20
    x = scalars.index.get_level_values("x")
    assert ((x >= 0) & (x <= 100)).all()


def test_failed_specs_exit_3_and_say_how_many(tmp_path: Path, store: Path, cli_env: dict[str, str]) -> None:
    design = tmp_path / "design.csv"
    pd.DataFrame({"x": [12.0, 13.0, 14.0]}).to_csv(design, index=False)
    proc = scythe(
        ["run", "sample_experiments:square", "-d", str(design), "-s", str(store), "-q"], cli_env, tmp_path
    )
    assert proc.returncode == 3
    assert "1 of 3 specs failed" in proc.stderr
    assert "errors.pq" in proc.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "sample_experiments:square"], "give exactly one of --design FILE or --sample"),
        (["run", "sample_experiments:square", "--design", "nope.csv"], "design file not found"),
        (["run", "nope:fn", "--sample", "lhs"], "cannot import 'nope'"),
        (["run", "sample_experiments:square", "--sample", "grid"], "--sample must be lhs or sobol"),
        (
            ["run", "sample_experiments:square", "--sample", "lhs", "--set", "bogus=1"],
            "unknown field(s) to fix: bogus",
        ),
        (["run", "sample_experiments:square", "--sample", "lhs", "--version", "latest"], "is not a version"),
        (["resume", "2020-01-01_00-00-00"], "no run '2020-01-01_00-00-00'"),
        (["results", "show", "not-a-run"], "is not a run"),
        (["run", "sample_experiments:square", "--sample", "lhs", "--store", "ftp://x"], "unsupported store"),
    ],
)
def test_user_mistakes_are_one_line(
    args: list[str], message: str, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    proc = scythe(args, {**cli_env, "SCYTHE_STORE": str(tmp_path / "s")}, tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error:")
    assert message in proc.stderr


def test_bad_design_lists_rows_and_writes_nothing(
    tmp_path: Path, store: Path, cli_env: dict[str, str]
) -> None:
    design = tmp_path / "design.csv"
    design.write_text("x,n\n1,1\n500,1\n2,0\n")
    proc = scythe(
        ["run", "sample_experiments:square", "-d", str(design), "-s", str(store)], cli_env, tmp_path
    )
    assert proc.returncode == 1
    assert "row 2, field 'x'" in proc.stderr
    assert "row 3, field 'n'" in proc.stderr
    assert not store.exists()


def test_kill_9_then_resume_runs_each_spec_once(tmp_path: Path, store: Path, cli_env: dict[str, str]) -> None:
    trace = tmp_path / "trace.txt"
    n = 240
    proc = slow_run_until_committed(tmp_path, store, cli_env, n=n, batches=4, trace=trace)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    run = only_run(store)
    committed = {int(p.parent.name) for p in (store / run).glob("scatter-gather/results/*/_SUCCESS.json")}
    assert 4 <= len(committed) < n // 8, "the kill should land mid-run"
    assert not (store / run / "final" / "scalars.pq").exists()

    resumed = scythe(["resume", run, "-s", str(store), "-q"], cli_env, tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    scalars = pd.read_parquet(store / run / "final" / "scalars.pq")
    assert sorted(scalars.index.get_level_values("sort_index")) == list(range(n))
    executions = [int(line) for line in trace.read_text().split()]
    for batch in committed:  # committed before the kill: never executed again
        for sort_index in range(batch * 8, batch * 8 + 8):
            assert executions.count(sort_index) == 1, sort_index
    assert set(executions) == set(range(n))
