from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sample_experiments import square

from scythe import DesignError, ScytheError, allocate
from scythe.design import read_design, validate_design


def test_every_bad_row_is_reported_and_nothing_written(tmp_path: Path, store: Path) -> None:
    design = tmp_path / "design.csv"
    design.write_text("x,n,mode\n1,1,fast\n-5,1,fast\n2,9,fast\n3,1,sideways\n4,2,slow\n")
    with pytest.raises(DesignError) as info:
        allocate(square, design, store=str(store), progress=False)
    problems = info.value.problems
    assert problems[0].startswith("row 2, field 'x': Input should be greater than or equal to 0")
    assert problems[1].startswith("row 3, field 'n': Input should be less than or equal to 5")
    assert problems[2].startswith("row 4, field 'mode': Input should be 'fast' or 'slow'")
    assert len(problems) == 3
    assert "nothing was written" in str(info.value)
    assert not store.exists()


def test_unknown_column_and_missing_required_are_reported() -> None:
    rows, base = read_design(pd.DataFrame({"y": [1.0]}))
    with pytest.raises(DesignError) as info:
        validate_design(square.input_spec, rows, base)
    text = "\n".join(info.value.problems)
    assert "row 1, field 'x': Field required" in text
    assert "row 1, field 'y': Extra inputs are not permitted" in text


def test_empty_cells_take_defaults(tmp_path: Path) -> None:
    design = tmp_path / "d.csv"
    design.write_text("x,n\n1,\n2,3\n")
    rows, base = read_design(design)
    specs = validate_design(square.input_spec, rows, base)
    assert [s.n for s in specs] == [1, 3]  # type: ignore[attr-defined]
    assert [s.sort_index for s in specs] == [0, 1]


def test_missing_input_file_is_a_row_error(tmp_path: Path) -> None:
    from scythe.experiments import BaseExperiment  # noqa: F401  (compat import path)
    from scythe.specs import ExperimentInputSpec, FileReference

    class WithFile(ExperimentInputSpec):
        weather: FileReference

    (tmp_path / "ok.csv").write_text("x")
    design = tmp_path / "design.csv"
    design.write_text("weather\nok.csv\nmissing.csv\n")
    rows, base = read_design(design)
    with pytest.raises(DesignError, match=r"row 2, field 'weather': file not found: .*missing.csv"):
        validate_design(WithFile, rows, base)


def test_unreadable_designs_are_explained(tmp_path: Path) -> None:
    with pytest.raises(ScytheError, match="design file not found"):
        read_design(tmp_path / "nope.csv")
    (tmp_path / "d.txt").write_text("x")
    with pytest.raises(ScytheError, match=r"must be \.csv, \.parquet or \.pq"):
        read_design(tmp_path / "d.txt")
    with pytest.raises(ScytheError, match="empty"):
        validate_design(square.input_spec, [], tmp_path)
