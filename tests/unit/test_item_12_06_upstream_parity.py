"""Issue 12, item 6: upstream parity. `computed_features` on input specs become index levels of
every final table, and `allocate(spec)` with one spec is a run of one, versioned and loadable
like any run; code written for scythe-engine runs unchanged."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Literal, TypedDict

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml
from pydantic import Field

import scythe
from scythe.errors import DesignError, ExperimentDefinitionError, ScytheError
from scythe.experiments import BaseExperiment
from scythe.registry import ExperimentRegistry
from scythe.specs import ExperimentInputSpec, ExperimentOutputSpec, FileReference
from scythe.store import LocalStore

BOOKKEEPING = ["experiment_id", "sort_index", "root_workflow_run_id"]


class Building(ExperimentInputSpec):
    """Upstream's spelling: a property returning `dict[str, ComputedFeatureValue]`."""

    r_value: float = Field(ge=0.5, le=15)
    floors: int = Field(ge=1)

    @property
    def computed_features(self) -> dict[str, int | float | str]:
        return {"insulation": "high" if self.r_value >= 5 else "low", "height_m": self.floors * 3}


class Energy(ExperimentOutputSpec):
    heating: float
    report: FileReference


@ExperimentRegistry.Register(name="parity_energy")
def energy(input_spec: Building, tempdir: Path) -> Energy:
    """Fails for the 13th floor; else a heating figure, a report file and a monthly frame."""
    if input_spec.floors == 13:
        raise RuntimeError("unlucky floor")
    report = tempdir / "report.txt"
    report.write_text(f"r={input_spec.r_value}")
    monthly = pd.DataFrame({"month": [1, 2], "kwh": [input_spec.r_value, 2 * input_spec.r_value]})
    return Energy(
        heating=100 / input_spec.r_value, report=report, dataframes={"monthly": monthly.set_index("month")}
    )


def _final(store: Path, prefix: str, name: str) -> pd.DataFrame:
    return pd.read_parquet(store / prefix / "final" / f"{name}.pq")


def test_item_12_06_computed_features_are_index_levels_of_every_final_table(store: Path) -> None:
    # floors 2.0 validates to the int 2: the features are computed from the validated spec
    design = [{"r_value": 2, "floors": 1}, {"r_value": 8, "floors": 2.0}, {"r_value": 10, "floors": 13}]
    result = scythe.allocate(energy, design, store=str(store), workers=1, progress=False)
    assert (result.succeeded, result.failed) == (2, 1)
    levels = [*BOOKKEEPING, "r_value", "floors", "insulation", "height_m"]
    scalars = _final(store, result.run.prefix, "scalars")
    assert list(scalars.index.names) == levels
    assert scalars.index.get_level_values("insulation").tolist() == ["low", "high"]
    assert scalars.index.get_level_values("height_m").tolist() == [3, 6]
    assert list(scalars.columns) == ["heating"]  # a feature is an index level, never a column
    refs = _final(store, result.run.prefix, "result_file_refs")
    assert list(refs.index.names) == levels
    monthly = _final(store, result.run.prefix, "monthly")
    assert list(monthly.index.names) == [*levels, "month"]
    assert monthly.index.get_level_values("insulation").tolist() == ["low", "low", "high", "high"]
    errors = _final(store, result.run.prefix, "errors")
    assert list(errors.index.names) == levels
    assert errors.index.get_level_values("height_m").tolist() == [39]  # a failed spec keeps its features
    specs = pq.read_table(store / result.run.prefix / "specs.pq")
    assert specs.column("insulation").to_pylist() == ["low", "high", "high"]
    manifest = yaml.safe_load((store / result.run.prefix / "manifest.yml").read_text())
    assert manifest["computed_features"] == ["insulation", "height_m"]


def test_item_12_06_rows_that_never_ran_carry_the_features_too(store: Path) -> None:
    """WorkerLost rows are written from the stored row, with no spec object in the task: the
    features are there because they were stored at allocation, beside the fields."""
    from scythe.run.allocation import prepare
    from scythe.run.gather import gather_experiment
    from scythe.run.task import commit_lost_batch

    allocation = prepare(energy, [{"r_value": 6, "floors": 4}], store=LocalStore(store))
    commit_lost_batch(allocation.run, 0, attempts=3)
    gather_experiment(LocalStore(store), allocation.run, allocation.manifest)
    errors = _final(store, allocation.run.prefix, "errors")
    assert errors["error_type"].tolist() == ["WorkerLost"]
    assert errors.index.get_level_values("insulation").tolist() == ["high"]
    assert errors.index.get_level_values("height_m").tolist() == [12]


class Ratio(TypedDict):
    """Declared features: their names are known when the class is defined."""

    ratio: float
    band: Literal["a", "b"]
    huge: int


class Declared(ExperimentInputSpec):
    x: int

    @property
    def computed_features(self) -> Ratio:
        return {
            "ratio": self.x // 2,
            "band": "a" if self.x < 3 else "b",
            "huge": 2**70 if self.x == 9 else self.x,
        }


class Y(ExperimentOutputSpec):
    y: float


@ExperimentRegistry.Register(name="parity_declared")
def declared(input_spec: Declared) -> Y:
    return Y(y=input_spec.x)


class Clash(TypedDict):
    x: float


def test_item_12_06_a_declared_feature_named_like_an_input_is_refused_at_class_definition() -> None:
    with pytest.raises(ExperimentDefinitionError) as caught:

        class Twice(ExperimentInputSpec):
            x: float

            @property
            def computed_features(self) -> Clash:
                return {"x": self.x}

    assert str(caught.value) == (
        "Twice: computed feature 'x' is also one of its fields (one index level cannot hold both): rename one"
    )


def test_item_12_06_a_declared_feature_named_like_an_output_is_refused_at_register() -> None:
    class Shadow(ExperimentOutputSpec):
        ratio: float

    def clash(input_spec: Declared) -> Shadow:
        return Shadow(ratio=1.0)

    clash.__annotations__ = {"input_spec": Declared, "return": Shadow}
    with pytest.raises(
        ExperimentDefinitionError, match=r"'ratio' is both a computed feature .* and an output"
    ):
        ExperimentRegistry.Register(name="parity_clash")(clash)
    assert Declared.index_fields() == [*BOOKKEEPING, "x", "ratio", "band", "huge"]


def test_item_12_06_declared_types_fix_the_column_and_bad_values_are_design_problems(store: Path) -> None:
    result = scythe.allocate(declared, [{"x": 1}, {"x": 4}], store=str(store), workers=1, progress=False)
    scalars = pq.read_table(store / result.run.prefix / "final" / "scalars.pq")
    assert scalars.column("ratio").to_pylist() == [0.0, 2.0]  # ints the code gave, in a float column
    assert str(scalars.schema.field("ratio").type) == "double"
    with pytest.raises(DesignError) as caught:
        scythe.allocate(declared, [{"x": 1}, {"x": 9}], store=str(store), workers=1, progress=False)
    assert f"row 2, computed feature 'huge': {2**70} does not fit a 64-bit integer" in str(caught.value)
    assert "row 1" not in str(caught.value)


class Loose(ExperimentInputSpec):
    """Upstream's spelling, with features an instance decides: names and types come from the design."""

    k: int

    @property
    def computed_features(self) -> dict[str, int | float | str]:
        if self.k == 0:
            raise ValueError("k must not be 0 here")
        if self.k == 7:
            return {"k": 7}
        return {"label": "seven" if self.k == 5 else self.k}


@ExperimentRegistry.Register(name="parity_loose")
def loose(input_spec: Loose) -> Y:
    return Y(y=input_spec.k)


def test_item_12_06_undeclared_features_are_checked_before_anything_is_written(store: Path) -> None:
    with pytest.raises(DesignError) as caught:
        scythe.allocate(loose, [{"k": 1}, {"k": 0}, {"k": 5}], store=str(store), workers=1, progress=False)
    text = str(caught.value)
    assert "row 2: computed_features raised ValueError: k must not be 0 here" in text
    assert "row 3, computed feature 'label': 'seven' is a str, but row 1 holds a number" in text
    with pytest.raises(ExperimentDefinitionError) as clash:
        scythe.allocate(loose, [{"k": 1}, {"k": 7}], store=str(store), workers=1, progress=False)
    assert str(clash.value) == (
        "Loose: computed feature 'k' (design row 2) is also one of its fields "
        "(one index level cannot hold both): rename one"
    )
    assert not store.exists() or not any(store.rglob("manifest.yml"))


class Single(ExperimentInputSpec):
    temperature: float = Field(ge=0)


class SingleOut(ExperimentOutputSpec):
    energy: float
    mode: float | str


@ExperimentRegistry.Register(name="parity_single")
def single(input_spec: Single) -> SingleOut:
    if input_spec.temperature == 0:
        raise RuntimeError("frozen")
    return SingleOut(
        energy=input_spec.temperature * 2, mode="auto", dataframes={"trace": pd.DataFrame({"t": [1.5]})}
    )


def test_item_12_06_one_spec_instance_is_a_run_of_one(store: Path) -> None:
    spec = Single(temperature=300.0, experiment_id="placeholder", sort_index=7)
    result = scythe.allocate(single, spec, store=str(store), version="bumpminor", workers=1, progress=False)
    assert (result.n_specs, result.succeeded, result.run.version) == (1, 1, "v1.0.0")
    frames = scythe.results.load(result.run.prefix, store=str(store))
    assert frames["scalars"]["energy"].tolist() == [600.0]
    assert frames["scalars"].index.get_level_values("sort_index").tolist() == [0]


def test_item_12_06_base_experiment_allocate_one_spec_returns_its_output(
    store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCYTHE_STORE", str(store))
    experiment = BaseExperiment(runnable=single)
    spec = Single(temperature=300.0, experiment_id="placeholder", sort_index=0)
    run, ref = experiment.allocate(spec, version="bumpminor")
    again, _ = experiment.allocate(spec, version="bumpminor")
    assert (run.run.version, again.run.version, run.n_specs) == ("v1.0.0", "v1.1.0", 1)
    output = ref.result()  # upstream: the runnable's return value
    assert isinstance(output, SingleOut)
    assert (output.energy, output.mode) == (600.0, "auto")
    assert output.dataframes["trace"]["t"].tolist() == [1.5]
    assert scythe.results.load(run.run.prefix, store=str(store))["scalars"]["energy"].tolist() == [600.0]
    failed, failed_ref = experiment.allocate(Single(temperature=0.0, experiment_id="x", sort_index=0))
    assert (failed.finished, failed.failed) == (True, 1)
    with pytest.raises(ScytheError, match=r"^parity_single: its spec failed \(RuntimeError: frozen\)"):
        failed_ref.result()


SNIPPET_MODULE = '''
from pydantic import Field
from scythe.base import ComputedFeatureValue, ExperimentInputSpec, ExperimentOutputSpec
from scythe.registry import ExperimentRegistry


class MyInput(ExperimentInputSpec):
    temperature: float = Field(..., description="Temperature [K]", ge=0)
    pressure: float = Field(..., description="Pressure [Pa]", ge=0)

    @property
    def computed_features(self) -> dict[str, ComputedFeatureValue]:
        return {"temp_bucket": "high" if self.temperature > 500 else "low"}


class MyOutput(ExperimentOutputSpec):
    energy: float = Field(..., description="Energy [J]")


@ExperimentRegistry.Register()
def simulate_energy(input_spec: MyInput) -> MyOutput:
    """Simulate the energy of a gas."""
    return MyOutput(energy=input_spec.temperature * input_spec.pressure)
'''

SNIPPET_SCRIPT = """
from scythe.experiments import BaseExperiment
from my_experiments import simulate_energy, MyInput

experiment = BaseExperiment(runnable=simulate_energy)
spec = MyInput(temperature=300.0, pressure=1e5, experiment_id="placeholder", sort_index=0)
run, ref = experiment.allocate(spec, version="bumpminor")
result = ref.result()
specs = [
    MyInput(temperature=t, pressure=1e5, experiment_id="placeholder", sort_index=i)
    for i, t in enumerate([300.0, 600.0])
]
batch_run, batch_ref = experiment.allocate(specs, version="bumpminor")
batch_ref.result()
print(result.energy)
"""


def test_item_12_06_an_upstream_snippet_runs_unchanged(tmp_path: Path) -> None:
    """scythe-engine's documented computed-features and single-spec examples, as written for it
    (its import paths, a module of experiments and a script that allocates)."""
    (tmp_path / "my_experiments.py").write_text(textwrap.dedent(SNIPPET_MODULE))
    (tmp_path / "allocate.py").write_text(textwrap.dedent(SNIPPET_SCRIPT))
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(tmp_path)}
    env |= {"SCYTHE_STORE": str(tmp_path / "store"), "SCYTHE_WORKERS": "1"}
    proc = subprocess.run(
        [sys.executable, "allocate.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["30000000.0"]
    (one,) = (tmp_path / "store" / "simulate_energy" / "v1.0.0").iterdir()  # the one-spec run
    (two,) = (tmp_path / "store" / "simulate_energy" / "v1.1.0").iterdir()
    scalars = pd.read_parquet(one / "final" / "scalars.pq")
    assert scalars.index.get_level_values("temp_bucket").tolist() == ["low"]
    batch = pd.read_parquet(two / "final" / "scalars.pq")
    assert batch.index.get_level_values("temp_bucket").tolist() == ["low", "high"]
