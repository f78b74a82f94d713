"""End to end on the embedded default: allocate → tasks → gather, through the real store."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import example_design
from sample_experiments import reporter, square

from scythe import LocalStore, allocate
from scythe.run.gather import gather
from scythe.run.manifest import read_manifest

INDEX = ["experiment_id", "sort_index", "root_workflow_run_id"]


def test_building_energy_1000_specs(store: Path) -> None:
    from building_energy.experiment import simulate

    result = allocate(simulate, example_design(1000), store=str(store), workers=2, progress=False)
    assert (result.n_specs, result.succeeded, result.failed) == (1000, 1000, 0)
    assert result.run.version == "v0.1.0"  # the project's own version (its pyproject), not a bump
    run_dir = store / result.run.prefix
    for name in ["manifest.yml", "experiment_io_spec.yml", "input_artifacts.yml", "specs.pq"]:
        assert (run_dir / name).is_file(), name
    assert len(list((run_dir / "artifacts").iterdir())) == 3  # three weather files, deduplicated
    scalars = pd.read_parquet(run_dir / "final" / "scalars.pq")
    assert list(scalars.index.names) == [*INDEX, "r_value", "lpd", "setpoint", "economizer", "weather_file"]
    assert list(scalars.columns) == ["heating", "cooling", "lighting", "equipment", "fans", "pumps"]
    assert list(scalars.index.get_level_values("sort_index")) == list(range(1000))
    assert (scalars >= 0).all().all()
    assert scalars.index.get_level_values("weather_file").str.startswith("file://").all()
    monthly = pd.read_parquet(run_dir / "final" / "monthly.pq")
    assert list(monthly.index.names) == [*scalars.index.names, "month"]
    assert len(monthly) == 12 * 1000
    manifest = yaml.safe_load((run_dir / "manifest.yml").read_text())
    assert manifest["experiment"] == "building_energy"
    assert manifest["n_specs"] == 1000
    assert manifest["experiment_id"] == result.run.prefix
    io = yaml.safe_load((run_dir / "experiment_io_spec.yml").read_text())
    assert io["input_spec"]["properties"]["r_value"]["description"].startswith("Thermal resistance")
    artifacts = yaml.safe_load((run_dir / "input_artifacts.yml").read_text())
    assert len(artifacts["files"]["weather_file"]) == 3


def test_failures_are_recorded_and_the_rest_kept(store: Path) -> None:
    design = pd.DataFrame({"x": [float(i) for i in range(30)]})
    result = allocate(square, design, store=str(store), workers=2, batch_size=4, progress=False)
    assert (result.succeeded, result.failed) == (29, 1)
    errors = pd.read_parquet(store / result.run.prefix / "final" / "errors.pq")
    assert list(errors.index.names)[:3] == INDEX
    row = errors.reset_index().iloc[0]
    assert (row["sort_index"], row["error_type"], row["message"], row["attempts"]) == (
        13,
        "ValueError",
        "thirteen is unlucky",
        1,
    )
    assert "Traceback" in row["traceback"]
    scalars = pd.read_parquet(store / result.run.prefix / "final" / "scalars.pq")
    assert 13 not in scalars.index.get_level_values("sort_index")
    assert len(scalars) == 29
    assert scalars.loc[(slice(None), 3), "y"].item() == 9.0


def test_same_design_twice_gives_identical_scalars(store: Path) -> None:
    design = pd.DataFrame({"x": [float(i) for i in range(40)], "n": [1 + i % 5 for i in range(40)]})
    first = allocate(square, design, store=str(store), workers=2, version="keep", progress=False)
    second = allocate(square, design, store=str(store), workers=2, version="keep", progress=False)
    assert first.run.run_id != second.run.run_id
    frames = [pd.read_parquet(store / r.run.prefix / "final" / "scalars.pq") for r in (first, second)]
    stripped = [f.reset_index(["experiment_id", "root_workflow_run_id"], drop=True) for f in frames]
    pd.testing.assert_frame_equal(*stripped)


def test_gather_twice_is_byte_identical(store: Path) -> None:
    design = pd.DataFrame({"x": [float(i) for i in range(25)], "n": [2] * 25})
    result = allocate(square, design, store=str(store), workers=2, batch_size=3, progress=False)
    final = store / result.run.prefix / "final"
    before = {p.name: p.read_bytes() for p in final.iterdir()}
    target = LocalStore(store)
    gather(target, result.run, read_manifest(target, result.run), square.input_spec.index_fields())
    assert {p.name: p.read_bytes() for p in final.iterdir()} == before
    series = pd.read_parquet(final / "series.pq")
    assert list(series.index.names) == [*INDEX, "x", "n", "mode", "trace", "step"]
    assert len(series) == 2 * 24


def test_output_files_are_uploaded_from_the_scratch_dir(store: Path) -> None:
    result = allocate(reporter, [{"x": 1.5}, {"x": 2.5}], store=str(store), workers=1, progress=False)
    refs = pd.read_parquet(store / result.run.prefix / "final" / "result_file_refs.pq")
    uris = list(refs["report"])
    assert len(uris) == 2
    texts = [Path(uri.removeprefix("file://")).read_text() for uri in uris]
    assert texts == ["x=1.5\n", "x=2.5\n"]
    scalars = pd.read_parquet(store / result.run.prefix / "final" / "scalars.pq")
    assert list(scalars.columns) == ["y"]


def test_versions_bump_against_the_store(store: Path) -> None:
    rows = [{"x": 1.0}]
    runs = [
        allocate(square, rows, store=str(store), version=v, progress=False).run.version
        for v in ("bumpmajor", "bumpminor", "bumppatch", "keep", "3.0.0", "bumpminor")
    ]
    assert runs == ["v1.0.0", "v1.1.0", "v1.1.1", "v1.1.1", "v3.0.0", "v3.1.0"]


def test_specs_and_spec_lists_are_accepted(store: Path) -> None:
    from sample_experiments import PointInput

    specs = [PointInput(x=2.0, experiment_id="placeholder", sort_index=7), PointInput(x=3.0, sort_index=0)]
    result = allocate(square, specs, store=str(store), progress=False)
    scalars = pd.read_parquet(store / result.run.prefix / "final" / "scalars.pq")
    assert list(scalars["y"]) == [4.0, 9.0]
    assert list(scalars.index.get_level_values("sort_index")) == [0, 1]
    assert set(scalars.index.get_level_values("experiment_id")) == {result.run.prefix}


@pytest.mark.parametrize("workers", [1, 2])
def test_worker_process_death_fails_only_its_spec(store: Path, workers: int) -> None:
    from sample_experiments import crasher

    design = pd.DataFrame({"x": [float(i) for i in range(10)]})
    result = allocate(crasher, design, store=str(store), workers=workers, batch_size=2, progress=False)
    assert (result.succeeded, result.failed) == (9, 1)
    errors = pd.read_parquet(store / result.run.prefix / "final" / "errors.pq").reset_index()
    assert errors[["sort_index", "error_type"]].values.tolist() == [[7, "WorkerDied"]]
    assert "exit code 1" in errors["message"].iloc[0]


def test_timeout_is_enforced_per_spec(store: Path) -> None:
    from sample_experiments import sleepy

    result = allocate(sleepy, [{"x": 1.0}, {"x": 2.0}], store=str(store), workers=1, progress=False)
    assert (result.succeeded, result.failed) == (1, 1)
    errors = pd.read_parquet(store / result.run.prefix / "final" / "errors.pq")
    assert errors["error_type"].tolist() == ["Timeout"]
    assert "timeout of 0.2 s" in errors["message"].iloc[0]


def test_settings_come_from_dotenv(tmp_path: Path) -> None:
    from scythe.settings import get_settings

    (tmp_path / ".env").write_text(f"SCYTHE_STORE={tmp_path / 'from-dotenv'}\nSCYTHE_WORKERS=3\n")
    settings = get_settings()
    assert settings.store_uri() == str(tmp_path / "from-dotenv")
    assert settings.workers == 3
