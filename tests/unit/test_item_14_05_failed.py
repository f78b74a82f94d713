"""Issue 14, item 5: `scythe resume RUN --failed` re-executes only the specs in RUN's errors.pq
(after the code was fixed: a new version, or `--version keep` explicitly) and gathers a new run
that holds every row, the old successes copied from RUN."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from conftest import scythe
from memo_experiments import EXECUTIONS, FIXED, executed, fixable

from scythe import allocate
from scythe.errors import ScytheError
from scythe.run.rerun import rerun_failed

ROWS = pd.DataFrame({"x": [float(10 * i) for i in range(10)]})  # fixable fails x >= 50: 5 of 10


def failed_run(store: Path, executions: Path) -> str:
    result = allocate(fixable, ROWS, store=str(store), version="1.0.0", progress=False, workers=2)
    assert (result.succeeded, result.failed) == (5, 5)
    executed(executions)
    return result.run.prefix


def test_item_05_resume_failed_reruns_only_the_failed_specs_under_the_new_version(
    store: Path, executions: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = failed_run(store, executions)
    monkeypatch.setenv(FIXED, "1")  # the user fixed the code, and bumped its version
    again = rerun_failed(old, store=str(store), version="1.0.1", progress=False, workers=2)
    assert executed(executions) == [5, 6, 7, 8, 9]  # exactly the specs in errors.pq
    assert again.run.version == "v1.0.1"
    assert again.run.prefix != old
    assert (again.succeeded, again.failed, again.reused) == (10, 0, 5)
    final = store / again.run.prefix / "final"
    scalars = pd.read_parquet(final / "scalars.pq")
    assert scalars["y"].tolist() == [x**2 for x in ROWS["x"]]
    assert not (final / "errors.pq").exists()
    timings = pd.read_parquet(final / "timings.pq")
    assert timings["status"].tolist() == ["reused"] * 5 + ["ok"] * 5
    assert set(timings["reused_from"].dropna()) == {old}
    assert (store / old / "final" / "errors.pq").exists()  # the old run is left as it was


def test_item_05_the_same_version_is_refused_unless_asked_for(store: Path, executions: Path) -> None:
    old = failed_run(store, executions)
    # fixable declares version 1.0.0: the run's own, so the code was probably not changed
    with pytest.raises(ScytheError, match=r"still at v1\.0\.0.*--version keep"):
        rerun_failed(old, store=str(store), progress=False)
    assert executed(executions) == []
    again = rerun_failed(old, store=str(store), version="keep", progress=False, workers=2)
    assert executed(executions) == [5, 6, 7, 8, 9]
    assert again.run.version == "v1.0.0"
    assert again.failed == 5


def test_item_05_a_run_without_failures_or_not_gathered_is_one_line(store: Path, executions: Path) -> None:
    clean = allocate(fixable, ROWS[:3], store=str(store), version="1.0.0", progress=False, workers=2)
    with pytest.raises(ScytheError, match="has no failed specs"):
        rerun_failed(clean.run.prefix, store=str(store), version="1.0.1")
    (store / clean.run.prefix / "scatter-gather" / "gathered.json").unlink()
    with pytest.raises(ScytheError, match="not gathered yet"):
        rerun_failed(clean.run.prefix, store=str(store), version="1.0.1")


def test_item_05_scythe_resume_failed_from_the_command_line(
    tmp_path: Path, store: Path, executions: Path, cli_env: dict[str, str]
) -> None:
    old = failed_run(store, executions)
    env = {**cli_env, EXECUTIONS: str(executions)}
    refused = scythe(["resume", old, "-s", str(store), "--failed"], env, tmp_path)
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: ")
    assert len(refused.stderr.strip().splitlines()) == 1
    assert "Traceback" not in refused.stderr
    plain = scythe(["resume", old, "-s", str(store), "--version", "1.0.1"], env, tmp_path)
    assert plain.returncode == 1
    assert "--version goes with --failed" in plain.stderr
    assert executed(executions) == []
    fixed = scythe(
        ["resume", old, "-s", str(store), "--failed", "--version", "1.0.1", "-q"],
        {**env, FIXED: "1"},
        tmp_path,
    )
    assert fixed.returncode == 0, fixed.stderr
    assert executed(executions) == [5, 6, 7, 8, 9]
    shown = " ".join(scythe(["resume", "--help"], env, tmp_path, check=True).stdout.split())
    assert "--failed" in shown
    assert "errors.pq" in shown
