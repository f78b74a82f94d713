"""Issue 11 item 8: first contact is fast because nothing heavy is imported before a command needs it.

`scythe --help`, `--version`, `results list` and every `--help` start in a fraction of a second
when they import none of the libraries below (each costs from a tenth of a second to seconds on a
2-core machine). The interpreter's own record (`python -X importtime`) says what was imported.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import typer.main
from sample_experiments import square

from scythe.cli import app
from scythe.run.allocation import allocate

HEAVY = ("pandas", "pyarrow", "boto3", "hatchet_sdk", "copier", "datamodel_code_generator", "scipy")


def _every_command() -> list[list[str]]:
    """Every command and group of the CLI, the root included (`[]`)."""
    found: list[list[str]] = []

    def walk(command: Any, path: list[str]) -> None:
        found.append(path)
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return found


HELPS = _every_command()


def _imported(args: list[str], cwd: Path) -> set[str]:
    """The top-level packages a fresh `python -X importtime <args>` imported, from its own record."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    records = [line for line in done.stderr.splitlines() if line.startswith("import time:")]
    assert len(records) > 50, done.stderr[-2000:]  # the record is there: a check of nothing never passes
    return {line.rsplit("|", 1)[1].strip().split(".")[0] for line in records}


def test_item_08_the_record_sees_a_heavy_import(tmp_path: Path) -> None:
    assert "pandas" in _imported(["-c", "import scythe.sampling"], tmp_path)
    assert ["results", "list"] in HELPS
    assert ["dev", "up"] in HELPS


@pytest.mark.parametrize(
    "code",
    [
        "import scythe.cli",
        "import scythe",
        # What an experiment's spec module and `scythe specs` import: the authoring API.
        "import scythe; scythe.ExperimentInputSpec, scythe.ExperimentOutputSpec, scythe.FileReference",
        "from scythe.base import ExperimentInputSpec, FileReference; from scythe.registry import Experiment",
    ],
)
def test_item_08_imports_stay_light(code: str, tmp_path: Path) -> None:
    assert not set(HEAVY) & _imported(["-c", code], tmp_path)


def test_item_08_version_loads_nothing_heavy(tmp_path: Path) -> None:
    assert not set(HEAVY) & _imported(["-m", "scythe", "--version"], tmp_path)


@pytest.mark.parametrize("command", HELPS, ids=lambda c: " ".join(c) or "scythe")
def test_item_08_every_help_loads_nothing_heavy(command: list[str], tmp_path: Path) -> None:
    assert not set(HEAVY) & _imported(["-m", "scythe", *command, "--help"], tmp_path)


def test_item_08_results_list_of_a_real_store_loads_nothing_heavy(tmp_path: Path) -> None:
    """Listing reads manifests and gather summaries (YAML/JSON), never a Parquet file."""
    store = tmp_path / "store"
    allocate(square, pd.DataFrame({"x": [1.0, 2.0]}), store=str(store), workers=1, progress=False)
    assert not set(HEAVY) & _imported(["-m", "scythe", "results", "list", "--store", str(store)], tmp_path)


def test_item_08_dataframes_are_still_checked_without_pandas_at_import() -> None:
    """The spec base classes no longer import pandas, yet `dataframes` holds DataFrames only."""
    from pydantic import ValidationError
    from sample_experiments import PointOutput

    frame = pd.DataFrame({"v": [1.0]})
    assert PointOutput(y=1.0, doubled=2, dataframes={"f": frame}).dataframes["f"] is frame
    with pytest.raises(ValidationError, match="Input should be a pandas DataFrame, not list"):
        PointOutput(y=1.0, doubled=2, dataframes={"f": [1.0]})  # type: ignore[dict-item]
