"""prepare() in chunks: every problem of every chunk at once, nothing written unless all rows
validated, and the same stored bytes whatever the chunk size."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Literal

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from pydantic import Field, TypeAdapter, field_serializer
from sample_experiments import square

from scythe import DesignError, LocalStore
from scythe.base import ExperimentInputSpec, ExperimentOutputSpec, FileReference
from scythe.registry import ExperimentRegistry
from scythe.run import allocation as alloc
from scythe.run import staging


class SiteInput(ExperimentInputSpec):
    """A spec with input files, an optional file and an optional number."""

    weather: FileReference
    extra: FileReference | None = None
    scale: float | None = Field(default=None, ge=0)
    label: str | None = None
    amount: int | float | None = None


class SiteOutput(ExperimentOutputSpec):
    y: float


@ExperimentRegistry.Register(name="chunked_site")
def site(input_spec: SiteInput) -> SiteOutput:
    """Returns its scale."""
    return SiteOutput(y=input_spec.scale or 0.0)


@pytest.fixture
def fixed_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """One run id and no git sha, so two allocations can be compared file by file."""
    monkeypatch.setattr(alloc, "new_run_id", lambda taken: "2026-01-01_00-00-00")
    monkeypatch.setattr(alloc, "git_sha", lambda folder: None)


def weather_files(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files = [folder / f"w{i}.csv" for i in range(3)]
    for i, path in enumerate(files):
        path.write_text(f"day,dry_bulb_c\n1,{i}\n")
    (folder / "copy.csv").write_text(files[0].read_text())  # same content, another name
    return [*files, folder / "copy.csv"]


def site_design(folder: Path, n: int) -> pd.DataFrame:
    files = weather_files(folder)
    return pd.DataFrame(
        {
            "weather": [str(files[i % len(files)]) for i in range(n)],
            "extra": [
                None if i < 25 else "s3://bucket/extra.csv" if i % 2 else str(files[1]) for i in range(n)
            ],
            "scale": [None if i < 25 else i if i % 3 else i + 0.5 for i in range(n)],
            "label": [None if i < 40 else f"l{i}" for i in range(n)],
            "amount": pd.Series(
                [None if i < 21 else i if i < 40 else i + 0.25 for i in range(n)], dtype=object
            ),
        }
    )


def stored_files(root: Path) -> dict[str, bytes]:
    files = {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    manifest = next(k for k in files if k.endswith("manifest.yml"))
    text = yaml.safe_load(files[manifest])
    text.pop("created_at")
    files[manifest] = yaml.safe_dump(text).encode()
    return files


def test_chunk_size_changes_no_stored_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fixed_run: None
) -> None:
    design = site_design(tmp_path / "weather", 50)
    root = tmp_path / "store"
    monkeypatch.setattr(staging, "CHUNK_ROWS", 1_000_000)
    whole = alloc.prepare(site, design, store=LocalStore(root), batch_size=6)
    expected = stored_files(root)
    shutil.rmtree(root)
    monkeypatch.setattr(staging, "CHUNK_ROWS", 7)  # crosses batch boundaries (6) and the null runs
    chunked = alloc.prepare(site, design, store=LocalStore(root), batch_size=6)
    assert chunked.manifest == whole.manifest.model_copy(update={"created_at": chunked.manifest.created_at})
    assert stored_files(root) == expected
    run_dir = root / chunked.run.prefix
    assert len(list((run_dir / "scatter-gather" / "inputs").iterdir())) == 9


def test_columns_null_in_the_first_chunks_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(staging, "CHUNK_ROWS", 10)
    design = site_design(tmp_path / "weather", 50)
    allocation = alloc.prepare(site, design, store=LocalStore(tmp_path / "store"))
    run_dir = tmp_path / "store" / allocation.run.prefix
    specs = pq.read_table(run_dir / "specs.pq")
    assert specs.column_names == [
        "experiment_id",
        "sort_index",
        "workflow_run_id",
        "root_workflow_run_id",
        "weather",
        "extra",
        "scale",
        "label",
        "amount",
    ]
    assert str(specs.schema.field("scale").type) == "double"  # ints in one chunk, floats in another
    rows = specs.to_pylist()
    assert rows[0]["scale"] is None
    assert rows[0]["extra"] is None
    assert rows[0]["label"] is None
    assert rows[26]["scale"] == 26.0
    assert rows[27]["scale"] == 27.5
    assert rows[27]["extra"] == "s3://bucket/extra.csv"
    assert rows[26]["extra"].startswith("file://")
    assert "/artifacts/" in rows[26]["extra"]
    assert rows[45]["label"] == "l45"
    assert str(specs.schema.field("amount").type) == "double"  # all ints in chunks 2-3, floats in 4
    assert (rows[20]["amount"], rows[21]["amount"], rows[41]["amount"]) == (None, 21.0, 41.25)
    assert {r["experiment_id"] for r in rows} == {allocation.run.experiment_id}
    assert [r["sort_index"] for r in rows] == list(range(50))
    artifacts = yaml.safe_load((run_dir / "input_artifacts.yml").read_text())
    assert len(artifacts["sources"]) == 4  # four local files, three distinct contents
    assert len(artifacts["files"]["weather"]) == 3
    assert len(list((run_dir / "artifacts").iterdir())) == 3
    batch = pq.read_table(run_dir / "scatter-gather" / "inputs" / "000000.pq")
    assert batch.schema == specs.schema


def test_bad_rows_of_every_chunk_are_listed_with_design_row_numbers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(staging, "CHUNK_ROWS", 4)
    design = pd.DataFrame({"x": [1.0] * 20})
    design.loc[[1, 9, 18], "x"] = -1.0
    with pytest.raises(DesignError) as info:
        alloc.prepare(square, design, store=LocalStore(tmp_path / "store"))
    assert [p.split(":")[0] for p in info.value.problems] == [
        "row 2, field 'x'",
        "row 10, field 'x'",
        "row 19, field 'x'",
    ]
    assert not (tmp_path / "store").exists()


def test_the_listing_is_capped_across_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(staging, "CHUNK_ROWS", 64)
    design = pd.DataFrame({"x": [-1.0] * 250})
    with pytest.raises(DesignError) as info:
        alloc.prepare(square, design, store=LocalStore(tmp_path / "store"))
    problems = info.value.problems
    assert len(problems) == 201
    assert problems[199].startswith("row 200, field 'x'")
    assert problems[200] == "… and 50 more"


def test_a_bad_row_in_the_last_chunk_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(staging, "CHUNK_ROWS", 8)
    design = pd.DataFrame({"x": [float(i) for i in range(30)]})
    design.loc[29, "x"] = 101.0
    store = tmp_path / "store"
    with pytest.raises(DesignError, match="row 30, field 'x'"):
        alloc.prepare(square, design, store=LocalStore(store))
    assert not store.exists()


def test_missing_files_in_a_later_chunk_are_listed_only_without_field_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(staging, "CHUNK_ROWS", 5)
    design = site_design(tmp_path / "weather", 20)
    design.loc[17, "weather"] = str(tmp_path / "missing.csv")
    with pytest.raises(DesignError) as info:
        alloc.prepare(site, design, store=LocalStore(tmp_path / "store"))
    assert info.value.problems == [f"row 18, field 'weather': file not found: {tmp_path / 'missing.csv'}"]
    design.loc[2, "scale"] = -1.0  # a field error in an earlier chunk: only it is listed, as before
    with pytest.raises(DesignError) as info:
        alloc.prepare(site, design, store=LocalStore(tmp_path / "store"))
    assert [p.split(":")[0] for p in info.value.problems] == ["row 3, field 'scale'"]
    assert not (tmp_path / "store").exists()


def test_rows_given_as_dicts_are_chunked_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(staging, "CHUNK_ROWS", 3)
    rows = [{"x": float(i), "n": 1 + i % 5} for i in range(10)]
    allocation = alloc.prepare(square, rows, store=LocalStore(tmp_path / "store"), batch_size=4)
    specs = pd.read_parquet(tmp_path / "store" / allocation.run.prefix / "specs.pq")
    assert specs["x"].tolist() == [float(i) for i in range(10)]
    assert specs["n"].tolist() == [1 + i % 5 for i in range(10)]
    assert allocation.manifest.n_batches == 3


def test_installed_packages_do_not_take_a_surrounding_projects_version(tmp_path: Path) -> None:
    import importlib.util

    package = tmp_path / "project" / ".venv" / "lib" / "site-packages" / "boxed_experiment"
    package.mkdir(parents=True)
    (tmp_path / "project" / "pyproject.toml").write_text('[project]\nname = "outer"\nversion = "9.9.9"\n')
    (package / "__init__.py").write_text(
        "from scythe.registry import ExperimentRegistry\n"
        "from sample_experiments import PointInput, PointOutput\n"
        "@ExperimentRegistry.Register(name='boxed')\n"
        "def boxed(input_spec: PointInput) -> PointOutput:\n"
        "    return PointOutput(y=0.0, doubled=0)\n"
    )
    spec = importlib.util.spec_from_file_location("boxed_experiment", package / "__init__.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert alloc.default_version(module.boxed) == "keep"
    assert alloc.default_version(square) != "keep"  # tests/ is in this checkout: its pyproject


class OddInput(ExperimentInputSpec):
    """Fields whose dump is not simply their value, and one computed the usual way."""

    ratio: float = 0.0
    count: int | float = 0
    flag: bool | None = None
    kind: Literal["a", "b"] = "a"
    tags: list[str] = Field(default_factory=list)
    when: dt.date | None = None
    shown: str = ""
    secret: str = Field(default="", exclude=True)
    weather: FileReference | None = None

    @field_serializer("shown")
    def _upper(self, value: str) -> str:
        return value.upper()


def test_columns_built_without_pydantic_dump_equal_the_dump() -> None:
    rows = [
        {"ratio": float("nan"), "count": 1, "flag": True, "tags": ["x"], "when": "2026-01-02", "shown": "s"},
        {"ratio": float("inf"), "count": 2.5, "kind": "b", "weather": "s3://bucket/w.csv", "secret": "k"},
        {"ratio": 1, "count": True, "weather": "w.csv"},
        {"ratio": 2.5},
    ]
    adapter = TypeAdapter(list[OddInput])
    specs = adapter.validate_python(rows)
    plain = staging._plain_fields(OddInput)
    assert plain["ratio"] is float
    assert plain["weather"] is Path
    assert "shown" not in plain
    assert "tags" not in plain
    for part in (specs, specs[:1], specs[2:]):
        expected = pa.Table.from_pylist(adapter.dump_python(part, mode="json"))
        assert parquet_bytes(staging._chunk_table(adapter, part, plain)) == parquet_bytes(expected)


def parquet_bytes(table: pa.Table) -> bytes:
    """Tables compared as files: `Table.equals` holds NaN unequal to itself."""
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return bytes(sink.getvalue().to_pybytes())
