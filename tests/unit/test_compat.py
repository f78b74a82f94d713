"""Code shaped like scythe-engine's quickstart runs unchanged (where the concept exists)."""

from __future__ import annotations

import re
import typing
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pytest
from pydantic import Field

from scythe import backends
from scythe.backends.base import RecursionMap as BaseRecursionMap
from scythe.backends.embedded import EmbeddedBackend
from scythe.base import ExperimentInputSpec, ExperimentOutputSpec
from scythe.errors import ScytheError
from scythe.experiments import BaseExperiment
from scythe.registry import ExperimentRegistry
from scythe.run.layout import RunRef
from scythe.run.manifest import Manifest
from scythe.scatter_gather import RecursionMap
from scythe.settings import ScytheSettings
from scythe.store import Store
from scythe.utils.filesys import FileReference, fetch_uri
from scythe.worker import ScytheWorkerConfig


class BuildingSimulationInput(ExperimentInputSpec):
    """Simulation inputs for a building energy model."""

    r_value: float = Field(default=..., description="The R-Value of the building [m2K/W]", ge=0, le=15)
    lpd: float = Field(default=..., description="Lighting power density [W/m2]", ge=0, le=20)
    setpoint: float = Field(default=..., description="Thermostat setpoint [deg.C]", ge=12, le=30)
    economizer: Literal["NoEconomizer", "DifferentialDryBulb", "DifferentialEnthalpy"] = Field(
        default=..., description="The type of economizer to use"
    )
    weather_file: FileReference = Field(default=..., description="Weather file [.epw]")


class BuildingSimulationOutput(ExperimentOutputSpec):
    """Simulation outputs for a building energy model."""

    heating: float = Field(default=..., description="Annual heating energy usage, kWh/m2", ge=0)
    cooling: float = Field(default=..., description="Annual cooling energy usage, kWh/m2", ge=0)
    timeseries: FileReference = Field(default=..., description="Hourly results")


@ExperimentRegistry.Register()
def simulate_energy(input_spec: BuildingSimulationInput, tempdir: Path) -> BuildingSimulationOutput:
    """Initialize and execute an energy model of a building."""
    weather = fetch_uri(input_spec.weather_file, tempdir / "weather.epw")
    text = input_spec.fetch_uri(input_spec.weather_file).read_text()
    assert weather.read_text() == text
    input_spec.log(f"simulating r={input_spec.r_value}")
    hourly = tempdir / "timeseries.pq"
    pd.DataFrame({"h": np.arange(24) * input_spec.lpd}).to_parquet(hourly)
    return BuildingSimulationOutput(
        heating=100 / input_spec.r_value, cooling=input_spec.lpd * 2, timeseries=hourly
    )


def test_quickstart_allocate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCYTHE_STORE", str(tmp_path / "bucket"))
    epw = tmp_path / "weather.epw"
    epw.write_text("LOCATION,Boston\n")
    n = 12
    rng = np.random.default_rng(0)
    df = pd.DataFrame(
        {
            "r_value": rng.uniform(1, 15, n),
            "lpd": rng.uniform(0, 20, n),
            "setpoint": rng.uniform(12, 30, n),
            "economizer": rng.choice(["NoEconomizer", "DifferentialDryBulb", "DifferentialEnthalpy"], n),
            "weather_file": [str(epw)] * n,
        }
    )
    df["experiment_id"] = "placeholder"
    df["sort_index"] = list(range(n))
    specs = [BuildingSimulationInput.model_validate(row.to_dict()) for _, row in df.iterrows()]

    experiment = BaseExperiment(runnable=simulate_energy, run_name="building_energy")
    run, ref = experiment.allocate(
        specs, version="bumpminor", recursion_map=RecursionMap(factor=2, max_depth=2)
    )
    assert ref.result() is run
    assert run.run.experiment == "building_energy"
    assert run.run.version == "v1.0.0"  # nothing stored yet: upstream starts at v1.0.0
    second, _ = BaseExperiment(experiment=simulate_energy, run_name="building_energy").allocate(
        specs, version="bumpminor"
    )
    assert second.run.version == "v1.1.0"
    scalars = pd.read_parquet(tmp_path / "bucket" / run.run.prefix / "final" / "scalars.pq")
    assert list(scalars.columns) == ["heating", "cooling"]
    assert len(scalars) == n
    refs = pd.read_parquet(tmp_path / "bucket" / run.run.prefix / "final" / "result_file_refs.pq")
    assert list(refs.columns) == ["timeseries"]
    logs = sorted((tmp_path / "bucket" / run.run.prefix / "scatter-gather" / "results").glob("*/log.txt"))
    lines = [line for log in logs for line in log.read_text().splitlines()]
    assert sum("simulating r=" in line for line in lines) == n  # spec.log() lands in the batch's log


def test_upstream_storage_settings_pick_an_s3_store(monkeypatch: pytest.MonkeyPatch) -> None:
    from scythe.settings import get_settings

    monkeypatch.setenv("SCYTHE_STORAGE_BUCKET", "mit-sdl")
    assert get_settings().store_uri() == "s3://mit-sdl/scythe"
    monkeypatch.setenv("SCYTHE_STORE", "/data/runs")
    assert get_settings().store_uri() == "/data/runs"


def test_worker_config_reads_upstream_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCYTHE_WORKER_SLOTS", "3")
    monkeypatch.setenv("SCYTHE_WORKER_NAME", "w1")
    config = ScytheWorkerConfig()
    assert (config.computed_slots, config.computed_name) == (3, "w1")


def _design(tmp_path: Path, n: int = 4) -> list[BuildingSimulationInput]:
    epw = tmp_path / "weather.epw"
    epw.write_text("LOCATION,Boston\n")
    row = {
        "r_value": 2.0,
        "lpd": 5.0,
        "setpoint": 20.0,
        "economizer": "NoEconomizer",
        "weather_file": str(epw),
    }
    return [
        BuildingSimulationInput.model_validate({**row, "experiment_id": "x", "sort_index": i})
        for i in range(n)
    ]


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        ({"overwrite_sort_index": False}, "overwrite_sort_index=False"),
        ({"overwrite_experiment_id": False}, "overwrite_experiment_id=False"),
        ({"s3_client": object()}, "s3_client"),
        ({"recursion_map": RecursionMap(factor=2, max_depth=1, path=[{"factor": 2}])}, "recursion_map.path"),
    ],
)
def test_an_argument_scythe_cannot_honour_raises_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, arguments: dict[str, object], named: str
) -> None:
    monkeypatch.setenv("SCYTHE_STORE", str(tmp_path / "bucket"))
    experiment = BaseExperiment(runnable=simulate_energy)
    with pytest.raises(ScytheError, match=f"BaseExperiment: {re.escape(named)} is not supported"):
        experiment.allocate(_design(tmp_path), **arguments)  # type: ignore[arg-type]
    assert not (tmp_path / "bucket").exists()  # refused before anything was written


def test_storage_settings_are_refused_not_ignored() -> None:
    with pytest.raises(ScytheError, match="storage_settings is not supported"):
        BaseExperiment(runnable=simulate_energy, storage_settings={"BUCKET": "mine"})


def test_upstream_worker_labels_are_refused_not_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCYTHE_WORKER_HAS_GPU", "true")
    with pytest.raises(ScytheError, match="SCYTHE_WORKER_HAS_GPU: not supported"):
        ScytheWorkerConfig().start([simulate_energy])


class _RecordingBackend(EmbeddedBackend):
    """The embedded backend, remembering the fan-out shape it was asked for."""

    shapes: typing.ClassVar[list[object]] = []

    def submit(self, store: Store, run: RunRef, manifest: Manifest, shape: BaseRecursionMap | None) -> None:
        self.shapes.append(shape)


def make(settings: ScytheSettings, *, workers: int | None = None) -> _RecordingBackend:
    return _RecordingBackend(settings, workers)


def test_recursion_map_reaches_the_backend_that_shapes_the_tree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCYTHE_STORE", str(tmp_path / "bucket"))
    monkeypatch.setitem(backends.BACKENDS, "embedded", __name__)
    shape = RecursionMap(factor=3, max_depth=2)
    run, _ = BaseExperiment(runnable=simulate_energy).allocate(_design(tmp_path), recursion_map=shape)
    assert _RecordingBackend.shapes == [shape]
    assert run.succeeded == 4


def test_the_hatchet_tree_follows_the_recursion_map() -> None:
    from scythe.backends.hatchet.client import ScatterInput
    from scythe.backends.hatchet.tasks import leaves

    ref = RunRef(store="/s", experiment="e", version="v1.0.0", run_id="2026-01-01_00-00-00")
    root = ScatterInput(run=ref, lo=0, hi=8, factor=2, max_depth=2)
    assert [(leaf.lo, leaf.hi, leaf.depth) for leaf in leaves(root)] == [
        (0, 2, 2),
        (2, 4, 2),
        (4, 6, 2),
        (6, 8, 2),
    ]
    flat = root.model_copy(update={"factor": 1000, "max_depth": 3})
    assert [(leaf.lo, leaf.hi) for leaf in leaves(flat)] == [(0, 8)]  # the default: one level
