"""Issue 14 item 6: tidy access to results — flat tables, every run of a version at once, short
RUN names (`latest`, `EXPERIMENT@latest`, unique prefixes), enums as categoricals, file names."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from building_energy.experiment import simulate
from conftest import example_design
from sample_experiments import square
from typer.testing import CliRunner

import scythe
from scythe import LocalStore, allocate
from scythe.cli import app
from scythe.errors import ScytheError
from scythe.results.tidy import FieldKinds, tidy
from scythe.run.allocation import prepare
from scythe.run.manifest import find_run

ECONOMIZERS = ["NoEconomizer", "DifferentialDryBulb", "DifferentialEnthalpy"]
INDEX = ["experiment_id", "sort_index", "root_workflow_run_id"]


def test_item_06_flat_tables_have_index_levels_as_columns_enums_and_file_names(store: Path) -> None:
    design = example_design(12)
    result = allocate(simulate, design, store=str(store), workers=2, progress=False)
    assert result.ok
    frames = scythe.results.load(result.run.run_id, store=str(store), flat=True)
    scalars = frames["scalars"]
    assert isinstance(scalars.index, pd.RangeIndex)  # no reset_index() needed
    fields = [*INDEX, "r_value", "lpd", "setpoint", "economizer", "weather_file", "weather_file_name"]
    assert list(scalars.columns[: len(fields)]) == fields
    assert list(scalars.columns[len(fields) :]) == [
        "heating",
        "cooling",
        "lighting",
        "equipment",
        "fans",
        "pumps",
    ]
    by_spec = scalars.set_index("sort_index").sort_index()
    originals = [Path(p).name for p in design["weather_file"]]  # the design's own file names
    assert by_spec["weather_file_name"].tolist() == originals
    assert by_spec["weather_file"].str.startswith("file://").all()  # the stored URI stays beside it
    assert isinstance(scalars["economizer"].dtype, pd.CategoricalDtype)
    assert list(scalars["economizer"].cat.categories) == ECONOMIZERS  # the schema's order
    assert by_spec["economizer"].astype(str).tolist() == design["economizer"].tolist()
    monthly = frames["monthly"]  # a user dataframe: the same columns first, then its own index
    assert list(monthly.columns[: len(fields) + 1]) == [*fields, "month"]
    assert isinstance(monthly["economizer"].dtype, pd.CategoricalDtype)
    assert isinstance(frames["errors"].index, pd.RangeIndex)
    assert frames["errors"].empty

    indexed = scythe.results.load(result.run.run_id, store=str(store))["scalars"]
    assert indexed.index.names[:3] == INDEX  # not flat: the MultiIndex, with a categorical level
    assert isinstance(indexed.index.get_level_values("economizer").dtype, pd.CategoricalDtype)
    assert "weather_file_name" not in indexed.index.names
    assert "weather_file_name" not in indexed.columns


def test_item_06_load_all_concatenates_every_gathered_run_of_a_version(store: Path) -> None:
    first = allocate(square, [{"x": 1.0}, {"x": 2.0}], store=str(store), version="1.0.0", progress=False)
    second = allocate(square, [{"x": 3.0, "mode": "slow"}], store=str(store), version="1.0.0", progress=False)
    prepare(square, [{"x": 4.0}], store=LocalStore(store), version="1.0.0")  # allocated, never run
    newer = allocate(square, [{"x": 5.0}], store=str(store), version="2.0.0", progress=False)

    frames = scythe.results.load_all("square", version="1.0.0", store=str(store))
    scalars = frames["scalars"]
    assert scalars.index.names[0] == "run_id"
    runs = [first.run.run_id, first.run.run_id, second.run.run_id]
    assert scalars.index.get_level_values("run_id").tolist() == runs
    assert scalars["y"].tolist() == [1.0, 4.0, 9.0]
    assert isinstance(scalars.index.get_level_values("mode").dtype, pd.CategoricalDtype)
    assert len(frames["series"]) == 3
    assert frames["errors"].empty

    assert scythe.results.load_all("square", version="v1.0.0", store=str(store))["scalars"].equals(scalars)
    latest = scythe.results.load_all("square", store=str(store), flat=True)["scalars"]  # newest version
    assert latest["run_id"].tolist() == [newer.run.run_id]
    assert latest["y"].tolist() == [25.0]
    with pytest.raises(ScytheError, match=r"no version '3.0.0' of this experiment here: v1.0.0, v2.0.0"):
        scythe.results.load_all("square", version="3.0.0", store=str(store))
    with pytest.raises(ScytheError, match="no runs of experiment 'nothing'"):
        scythe.results.load_all("nothing", store=str(store))


def test_item_06_run_accepts_latest_experiment_at_latest_and_unique_prefixes(store: Path) -> None:
    local = LocalStore(store)
    made = [
        prepare(square, [{"x": 1.0}], store=local, version="1.0.0").run,
        prepare(square, [{"x": 1.0}], store=local, version="1.0.0").run,
        prepare(square, [{"x": 1.0}], store=local, version="2.0.0").run,
        prepare(simulate, example_design(2), store=local, version="1.0.0").run,
    ]
    assert find_run(local, "latest") == made[3]
    assert find_run(local, "square@latest") == made[2]  # across versions (the same second or not)
    assert find_run(local, "square/v1.0.0@latest") == made[1]
    assert find_run(local, f"square/v1.0.0/{made[0].run_id}") == made[0]
    for target in made[:2]:  # the shortest prefix only this run's id starts with
        others = [
            r.run_id for r in made if r.experiment == "square" and r.version == "v1.0.0" and r != target
        ]
        k = next(k for k in range(1, 20) if not any(o.startswith(target.run_id[:k]) for o in others))
        assert find_run(local, f"square/v1.0.0/{target.run_id[:k]}") == target

    with pytest.raises(
        ScytheError, match=r"run id prefix '2' is ambiguous: building_energy/v1\.0\.0/.*; give more"
    ):
        find_run(local, "2")
    with pytest.raises(ScytheError, match="after '@' only 'latest' is understood"):
        find_run(local, "square@newest")
    with pytest.raises(
        ScytheError, match=r"no run of missing in .*\(experiments here: building_energy, square\)"
    ):
        find_run(local, "missing@latest")
    with pytest.raises(ScytheError, match="square@latest names the experiment's newest run"):
        find_run(local, "square")
    with pytest.raises(ScytheError, match=r"'nosuch' is not a run: .* or EXPERIMENT@latest$"):
        find_run(local, "nosuch")  # not an experiment here: no hint naming it
    with pytest.raises(ScytheError, match="no run '1999' in"):
        find_run(local, "1999")


def test_item_06_cli_commands_take_the_short_forms(store: Path) -> None:
    result = allocate(square, [{"x": 2.0}], store=str(store), progress=False)
    shown = CliRunner().invoke(app, ["logs", "square@latest", "--store", str(store)])
    assert shown.exit_code == 0, shown.output
    assert f"no spec of {result.run.prefix} logged" in shown.stderr
    downloaded = CliRunner().invoke(
        app, ["results", "download", "latest", str(store.parent / "dl"), "-s", str(store)]
    )
    assert downloaded.exit_code == 0, downloaded.output
    assert (store.parent / "dl" / result.run.run_id / "final" / "scalars.pq").is_file()
    bad = CliRunner().invoke(app, ["results", "show", "square@oldest", "--store", str(store)])
    assert bad.exit_code == 1
    assert "error: 'square@oldest' is not a run" in bad.output


def test_item_06_an_enum_value_outside_the_schema_stays_text() -> None:
    frame = pd.DataFrame({"mode": ["fast", "retired"], "y": [1.0, 2.0]}).set_index("mode")
    kinds = FieldKinds(input_enums={"mode": ["fast", "slow"]}, output_enums={"y": ["a"]})
    kept = tidy(frame, kinds, scalars=True, flat=False)
    assert kept.index.tolist() == ["fast", "retired"]  # a categorical would have made it NaN
    assert not isinstance(kept.index.dtype, pd.CategoricalDtype)
    typed = tidy(frame.iloc[:1], kinds, scalars=True, flat=True)
    assert isinstance(typed["mode"].dtype, pd.CategoricalDtype)
    assert typed["y"].tolist() == [1.0]
