"""Property-based tests (robustness issue, "Property-based tests"): generated input and output
spec classes (bounded numbers, enums, strings, optional fields, file references) and designs,
good and with random bad cells, through `allocate` on the embedded backend and a fresh store.

- every bad row of a design is reported, by row and field, and nothing is written;
- a good design's `scalars.pq` holds each input and each output value exactly (a file
  reference: the uploaded copy of the very file), whether the design is rows, a DataFrame or a CSV;
- gathering a finished run again gives the same bytes.

The generated experiment lives in this module's `generated` namespace, where the embedded
backend's forked workers (and `load_experiment`) find it by `module:generated.simulate`.
"""

from __future__ import annotations

import csv
import re
import typing
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Annotated, Any, Literal

import pandas as pd
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import Field, create_model

from scythe import DesignError, LocalStore, allocate
from scythe.design import open_design, validate_design
from scythe.registry import Experiment, ExperimentRegistry
from scythe.run.gather import gather_experiment
from scythe.run.manifest import read_manifest
from scythe.specs import ExperimentInputSpec, ExperimentOutputSpec, FileReference

FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FINITE: dict[str, Any] = {"allow_nan": False, "allow_infinity": False}
MISSING = object()  # a cell left out of its row (an empty CSV cell)
FILES = 3  # input files w0.csv … of each example, plus a directory and a missing name


@dataclass(frozen=True)
class FileToken:
    """A file-reference cell before its example's folder exists: file `index`, "dir" or "missing"."""

    index: int = -1
    kind: str = "file"


@dataclass(frozen=True)
class Column:
    """One generated field: its annotation, its default (`...`: required), good and bad cells."""

    name: str
    annotation: Any
    default: Any
    good: st.SearchStrategy[Any]
    bad: st.SearchStrategy[Any]


def _optional(draw: st.DrawFn, name: str, annotation: Any, good: st.SearchStrategy[Any], bad: Any) -> Column:
    """The column, required or `| None = None` (then an empty cell is good, and None is stored)."""
    if draw(st.booleans()):
        return Column(name, annotation | None, None, st.one_of(st.none(), good), bad)
    return Column(name, annotation, ..., good, st.one_of(bad, st.just(MISSING)))


@st.composite
def number_input(draw: st.DrawFn, name: str) -> Column:
    lo = draw(st.floats(-1e6, 1e6, **FINITE))
    hi = draw(st.floats(lo, 1e6, **FINITE))
    below = st.floats(lo - 1e6, lo, exclude_max=True).filter(lambda v: v < lo)  # not -0.0 for 0.0
    outside = below | st.floats(hi, hi + 1e6, exclude_min=True).filter(lambda v: v > hi)
    annotation = Annotated[float, Field(ge=lo, le=hi)]
    return _optional(draw, name, annotation, st.floats(lo, hi), outside | st.just("not a number"))


@st.composite
def integer_input(draw: st.DrawFn, name: str) -> Column:
    lo = draw(st.integers(-(10**9), 10**9))
    hi = draw(st.integers(lo, 10**9))
    outside = st.integers(lo - 10**6, lo - 1) | st.integers(hi + 1, hi + 10**6)
    annotation = Annotated[int, Field(ge=lo, le=hi)]
    return _optional(draw, name, annotation, st.integers(lo, hi), outside | st.just(lo + 0.5) | st.just("x"))


#: Text a CSV reader might take for a number, a boolean or a missing value.
LOOK_ALIKES = ["007", "1.5", "NA", "null", "None", "nan", "True", " x ", "a,b", 'say "hi"']
WORDS = st.text(alphabet="abcxyz", min_size=1, max_size=5)


@st.composite
def enum_input(draw: st.DrawFn, name: str) -> Column:
    choices = draw(st.lists(WORDS, min_size=1, max_size=4, unique=True))
    annotation = Literal[tuple(choices)]  # type: ignore[valid-type]
    outside = WORDS.map(str.upper)  # the choices are lower case
    return _optional(draw, name, annotation, st.sampled_from(choices), outside)


@st.composite
def string_input(draw: st.DrawFn, name: str) -> Column:
    return _optional(draw, name, str, st.text(max_size=12) | st.sampled_from(LOOK_ALIKES), st.integers())


@st.composite
def file_input(draw: st.DrawFn, name: str) -> Column:
    good = st.builds(FileToken, st.integers(0, FILES - 1))
    bad = st.sampled_from([FileToken(kind="dir"), FileToken(kind="missing")])
    return _optional(draw, name, FileReference, good, bad)


INPUTS = [number_input, integer_input, enum_input, string_input, file_input]
OUTPUTS: list[tuple[Any, st.SearchStrategy[Any]]] = [
    (float, st.floats(**FINITE)),
    (int, st.integers(-(2**63), 2**63 - 1)),
    (str, st.text(max_size=12)),
    (bool, st.booleans()),
    (Literal["low", "high"], st.sampled_from(["low", "high"])),
    (float | None, st.none() | st.floats(**FINITE)),
]


@dataclass
class Case:
    """A generated experiment and a design for it (cells of FileToken, MISSING or values)."""

    inputs: list[Column]
    outputs: dict[str, Any]
    rows: list[dict[str, Any]]
    results: list[dict[str, Any]]
    form: str
    batch_size: int


@st.composite
def cases(draw: st.DrawFn, forms: tuple[str, ...]) -> Case:
    kinds = draw(st.lists(st.sampled_from(INPUTS), min_size=1, max_size=5))
    inputs = [draw(kind(f"a{i}")) for i, kind in enumerate(kinds)]
    outs = draw(st.lists(st.sampled_from(OUTPUTS), min_size=1, max_size=4))
    n = draw(st.integers(1, 12))
    form = draw(st.sampled_from(forms))
    # A CSV has no empty string: its empty cell is a missing one (the field's default).
    good = {c.name: c.good.filter(lambda v: v != "") if form == "csv" else c.good for c in inputs}
    rows = [{name: draw(values) for name, values in good.items()} for _ in range(n)]
    results = [{f"b{i}": draw(values) for i, (_, values) in enumerate(outs)} for _ in range(n)]
    outputs = {f"b{i}": annotation for i, (annotation, _) in enumerate(outs)}
    return Case(inputs, outputs, rows, results, form, draw(st.integers(1, n)))


# -- the generated experiment ---------------------------------------------------------------------

generated = SimpleNamespace(simulate=None, results=[])


def register(case: Case) -> Experiment[Any, Any]:
    """The case's spec classes and an experiment returning its `results`, row by row."""
    fields: dict[str, Any] = {c.name: (c.annotation, c.default) for c in case.inputs}
    input_spec = create_model("GeneratedInput", __base__=ExperimentInputSpec, **fields)
    outputs: dict[str, Any] = {name: (annotation, ...) for name, annotation in case.outputs.items()}
    output_spec = create_model("GeneratedOutput", __base__=ExperimentOutputSpec, **outputs)

    def simulate(input_spec: ExperimentInputSpec) -> ExperimentOutputSpec:
        return output_spec(**generated.results[input_spec.sort_index])

    simulate.__annotations__ = {"input_spec": input_spec, "return": output_spec}
    simulate.__qualname__ = "generated.simulate"
    generated.results = case.results
    generated.simulate = ExperimentRegistry.Register(name="generated")(simulate)
    return typing.cast(Experiment[Any, Any], generated.simulate)


# -- designs: rows, a DataFrame or a CSV file --------------------------------------------------------


def input_files(folder: Path) -> list[Path]:
    (folder / "adir").mkdir()
    files = [folder / f"w{i}.csv" for i in range(FILES)]
    for i, path in enumerate(files):
        path.write_text(f"day,dry_bulb_c\n1,{i}\n")
    return files


def cell(value: Any, folder: Path, relative: bool) -> Any:
    if not isinstance(value, FileToken):
        return value
    name = {"file": f"w{value.index}.csv", "dir": "adir", "missing": "missing.csv"}[value.kind]
    return name if relative else str(folder / name)


def design(case: Case, folder: Path) -> Any:
    """The rows in the case's form, file tokens made paths (relative to a CSV's own folder)."""
    relative = case.form == "csv"
    plain = [{k: cell(v, folder, relative) for k, v in r.items() if v is not MISSING} for r in case.rows]
    if case.form == "rows":
        return plain
    if case.form == "frame":
        return pd.DataFrame(plain, columns=[c.name for c in case.inputs])  # pandas infers the dtypes
    path = folder / "design.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow([c.name for c in case.inputs])
        for row in plain:
            writer.writerow(["" if row.get(c.name) is None else _text(row[c.name]) for c in case.inputs])
    return path


def _text(value: Any) -> str:
    return repr(value) if isinstance(value, float) else str(value)


# -- the properties --------------------------------------------------------------------------------

PROBLEM = re.compile(r"row (\d+), field '([^'.]*)")


@st.composite
def bad_cases(draw: st.DrawFn) -> tuple[Case, dict[tuple[int, str], bool]]:
    """A case whose design has at least one bad cell: (row from 1, field) → is it a bad file."""
    case = draw(cases(("rows", "frame", "csv")))
    spots = st.tuples(st.integers(0, len(case.rows) - 1), st.sampled_from(case.inputs))
    bad: dict[tuple[int, str], bool] = {}
    for row, column in draw(st.lists(spots, min_size=1, max_size=6)):
        values = column.bad
        if case.form == "csv" and column.annotation in (str, str | None):
            if column.default is not ...:
                continue  # every CSV cell is text: nothing in an optional one is bad
            values = st.just(MISSING)
        value = case.rows[row][column.name] = draw(values)
        bad[(row + 1, column.name)] = isinstance(value, FileToken)  # a missing cell is a field's error
    assume(bad)
    return case, bad


@FAST
@given(bad_cases())
def test_property_every_bad_row_is_reported_and_nothing_is_written(
    tmp_path_factory: pytest.TempPathFactory, generated_case: tuple[Case, dict[tuple[int, str], bool]]
) -> None:
    case, bad = generated_case
    folder = tmp_path_factory.mktemp("bad")
    input_files(folder)
    experiment = register(case)
    with pytest.raises(DesignError) as caught:
        allocate(experiment, design(case, folder), store=str(folder / "store"), progress=False)
    reported = {(int(row), name) for line in caught.value.problems for row, name in PROBLEM.findall(line)}
    # Field errors win: missing input files are listed only for a design whose every row validated.
    fields = {spot for spot, is_a_file in bad.items() if not is_a_file}
    assert reported == (fields or set(bad))
    assert not (folder / "store").exists()


@FAST
@given(cases(("rows", "frame", "csv")))
def test_property_good_designs_round_trip_exactly_and_gather_twice_gives_the_same_bytes(
    tmp_path_factory: pytest.TempPathFactory, case: Case
) -> None:
    folder = tmp_path_factory.mktemp("good")
    files = input_files(folder)
    experiment = register(case)
    store = folder / "store"
    result = allocate(
        experiment, design(case, folder), store=str(store), workers=1,
        batch_size=case.batch_size, progress=False,
    )  # fmt: skip
    assert (result.succeeded, result.failed) == (len(case.rows), 0)
    final = store / result.run.prefix / "final"
    stored = pq.read_table(final / "scalars.pq").to_pylist()
    assert [row["sort_index"] for row in stored] == list(range(len(case.rows)))
    for row, given_row, returned in zip(stored, case.rows, case.results, strict=True):
        for column in case.inputs:
            assert_same_input(row[column.name], given_row.get(column.name), files)
        assert {name: row[name] for name in case.outputs} == returned

    before = {p.name: p.read_bytes() for p in final.iterdir()}
    target = LocalStore(store)
    gather_experiment(target, result.run, read_manifest(target, result.run))
    assert {p.name: p.read_bytes() for p in final.iterdir()} == before


def assert_same_input(stored: Any, given: Any, files: list[Path]) -> None:
    """The stored input is the design's value: a file, by the bytes of its uploaded copy."""
    if isinstance(given, FileToken):
        assert stored.endswith(f"/{files[given.index].name}")
        assert Path(stored.removeprefix("file://")).read_bytes() == files[given.index].read_bytes()
    else:
        assert (stored, type(stored)) == (given, type(given))


def test_the_generated_experiment_is_what_workers_import() -> None:
    """The namespace trick the properties rely on: the ref resolves to the very experiment."""
    from scythe.registry import load_experiment

    case = Case([], {"b0": float}, [], [], "rows", 1)
    experiment = register(case)
    assert experiment.ref == f"{__name__}:generated.simulate"
    assert load_experiment(experiment.ref) is experiment


def test_csv_text_cells_are_read_as_written(tmp_path: Path) -> None:
    """What the round-trip property found: pandas read a text field's `007` as the number 7 (then
    refused) and `NA` or `null` as missing (then silently the field's default)."""

    class Coded(ExperimentInputSpec):
        code: str
        label: str | None = None
        kind: Literal["NA", "x"] | None = None
        x: float | None = None

    path = tmp_path / "d.csv"
    path.write_text("code,label,kind,x\n007,NA,NA,NA\nNone,null,,1.5\n")
    source = open_design(path, Coded)
    rows = [row for _, chunk in source.chunks(10) for row in chunk]
    specs = validate_design(Coded, rows, source.base_dir)
    assert [(s.code, s.label, s.kind, s.x) for s in specs] == [  # type: ignore[attr-defined]
        ("007", "NA", "NA", None),
        ("None", "null", None, 1.5),
    ]
