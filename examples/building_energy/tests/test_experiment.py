"""The experiment's own checks: one building through `simulate`, then a small embedded run."""

from __future__ import annotations

from pathlib import Path

import pytest
import scythe
from scythe.results import load

from allocate import build_design  # scripts/ is on the test path (pyproject.toml)
from building_energy.experiment import simulate
from building_energy.specs import BuildingEnergyInput, BuildingEnergyOutput

WEATHER = Path(__file__).resolve().parent.parent / "data" / "weather"


@pytest.fixture(autouse=True)
def _private_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fetched input files are cached in the test's folder, not the user's home."""
    monkeypatch.setenv("SCYTHE_CACHE_DIR", str(tmp_path / "cache"))


def test_one_building_through_simulate() -> None:
    cold, hot = (
        BuildingEnergyInput(r_value=3.0, lpd=8.0, setpoint=21.0, weather_file=WEATHER / name)
        for name in ("cold.csv", "hot.csv")
    )
    in_cold, in_hot = simulate(cold), simulate(hot)
    assert isinstance(in_cold, BuildingEnergyOutput)
    assert in_cold.heating > in_hot.heating
    assert in_cold.cooling < in_hot.cooling
    assert list(in_cold.dataframes["monthly"].index) == list(range(1, 13))


def test_small_embedded_run(tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    design = build_design(8, seed=0)
    result = scythe.allocate(simulate, design, store=store, workers=2, progress=False)
    assert (result.n_specs, result.succeeded, result.failed) == (8, 8, 0)
    frames = load(result.run.prefix, store=store, tables=["scalars", "monthly"])
    assert list(frames["scalars"].columns) == list(BuildingEnergyOutput.scalar_fields())
    assert len(frames["monthly"]) == 12 * 8
