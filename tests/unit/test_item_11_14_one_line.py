"""One line, never a traceback (robustness issue, items 11 and 14): malformed experiment names, a
tampered manifest, an installed entry point whose module is gone, and designs that are not what
they seem (duplicate columns, semicolons, a directory where a file belongs).

Each case runs the `scythe` command as a user does and checks the whole of what it printed.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import scythe
from sample_experiments import PointInput, PointOutput, square

from scythe import ScytheError, allocate
from scythe.design import open_design
from scythe.registry import ExperimentRegistry


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    """The single `error:` line a failed command printed, after checking that is all it printed."""
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: "), proc.stderr
    return lines[0]


def write_design(tmp_path: Path, text: str, name: str = "d.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# -- item 11: experiment names that are not module:function --------------------------------------

MALFORMED = [":", ":square", "sample_experiments:", ".relative:square", "sample_experiments:square.", "a b:c"]


@pytest.mark.parametrize("ref", MALFORMED)
def test_item_11_malformed_experiment_is_one_line(tmp_path: Path, cli_env: dict[str, str], ref: str) -> None:
    design = write_design(tmp_path, "x\n1\n")
    proc = scythe(["run", ref, "--design", str(design), "--store", str(tmp_path / "s")], cli_env, tmp_path)
    line = one_line_error(proc)
    assert f"experiment {ref!r} is not module:function" in line
    assert not (tmp_path / "s").exists()


def test_item_11_worker_with_experiment_colon_is_one_line(tmp_path: Path, cli_env: dict[str, str]) -> None:
    line = one_line_error(scythe(["worker", ":"], cli_env, tmp_path))
    assert "experiment ':' is not module:function" in line


# -- item 11: a tampered manifest ----------------------------------------------------------------


def _replace(key: str, value: str) -> Callable[[str], str]:
    """Sets one top-level key of the manifest's YAML, as a hand edit would."""
    return lambda text: "\n".join(
        f"{key}: {value}" if line.startswith(f"{key}:") else line for line in text.splitlines()
    )


TAMPERED: dict[str, tuple[Callable[[str], str], str]] = {
    "invalid_json": (lambda text: '{"experiment": "square", ', "not valid YAML"),
    "not_a_mapping": (lambda text: "- 1\n- 2\n", "not a mapping"),
    "empty": (lambda text: "", "not a mapping"),
    "wrong_type": (_replace("n_specs", "many"), "n_specs"),
    "missing_key": (
        lambda text: "\n".join(line for line in text.splitlines() if not line.startswith("n_specs")),
        "n_specs",
    ),
    "run_name_with_dots": (_replace("experiment", "../../evil"), "'../../evil' cannot name an experiment"),
    "another_run": (_replace("run_id", "2001-01-01_00-00-00"), "names the run square/"),
    "experiment_colon": (_replace("experiment_ref", '":"'), "':' is not module:function"),
    "zero_batch_size": (_replace("batch_size", "0"), "batch_size"),
    "batches_disagree": (_replace("n_batches", "7"), "n_batches"),
}


@pytest.fixture
def finished_run(store: Path) -> str:
    result = allocate(square, [{"x": 1.0}, {"x": 2.0}], store=str(store), workers=1, progress=False)
    return result.run.prefix


@pytest.mark.parametrize("case", sorted(TAMPERED))
def test_item_11_tampered_manifest_is_one_line_naming_the_file(
    tmp_path: Path, store: Path, cli_env: dict[str, str], finished_run: str, case: str
) -> None:
    tamper, why = TAMPERED[case]
    manifest = store / finished_run / "manifest.yml"
    manifest.write_text(tamper(manifest.read_text()))
    proc = scythe(["resume", finished_run, "--store", str(store), "-q"], cli_env, tmp_path)
    line = one_line_error(proc)
    assert f"{manifest.as_uri()} is damaged" in line
    assert why in line


@pytest.mark.parametrize("case", ["invalid_json", "wrong_type"])
def test_item_11_results_of_a_tampered_manifest_is_one_line(
    tmp_path: Path, store: Path, cli_env: dict[str, str], finished_run: str, case: str
) -> None:
    tamper, why = TAMPERED[case]
    manifest = store / finished_run / "manifest.yml"
    manifest.write_text(tamper(manifest.read_text()))
    for command in (["results", "show", finished_run], ["status", finished_run]):
        line = one_line_error(scythe([*command, "--store", str(store)], cli_env, tmp_path))
        assert f"{manifest.as_uri()} is damaged" in line
        assert why in line


# -- item 11: an installed entry point whose module is gone --------------------------------------


@pytest.fixture
def gone_entry_point(tmp_path: Path, cli_env: dict[str, str]) -> dict[str, str]:
    """An installed distribution (a dist-info on the path) declaring an experiment whose module
    was removed, as `pip uninstall` of a dependency or a deleted source tree leaves it."""
    site = tmp_path / "site"
    info = site / "gone_exp-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: gone-exp\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[scythe.experiments]\nvanished = gone_module.experiment:simulate\n"
    )
    return {**cli_env, "PYTHONPATH": os.pathsep.join([str(site), cli_env["PYTHONPATH"]])}


@pytest.mark.parametrize(
    "args",
    [
        ["run", "--design", "d.csv", "-s", "s"],
        ["run", "vanished", "--design", "d.csv", "-s", "s"],
        ["worker"],
    ],
)
def test_item_11_entry_point_whose_module_is_gone_is_one_line(
    tmp_path: Path, gone_entry_point: dict[str, str], args: list[str]
) -> None:
    write_design(tmp_path, "x\n1\n")
    line = one_line_error(scythe(args, gone_entry_point, tmp_path))
    assert "entry point 'vanished'" in line
    assert "gone-exp 1.0" in line
    assert "module 'gone_module' is not installed" in line


def test_item_11_entry_point_whose_function_is_gone_is_one_line(
    tmp_path: Path, gone_entry_point: dict[str, str]
) -> None:
    package = tmp_path / "site" / "gone_module"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "experiment.py").write_text("renamed = None\n")
    line = one_line_error(scythe(["worker"], gone_entry_point, tmp_path))
    assert "entry point 'vanished'" in line
    assert "'gone_module.experiment' has no 'simulate'" in line


# -- item 14: designs that are not what they seem -----------------------------------------------


def test_item_14_duplicate_csv_columns_are_named(tmp_path: Path, cli_env: dict[str, str]) -> None:
    design = write_design(tmp_path, "x,n,x\n1,1,2\n")
    line = one_line_error(scythe(["run", "sample_experiments:square", "-d", str(design)], cli_env, tmp_path))
    assert line == f"error: design {design} has 2 columns named 'x' (columns 1 and 3): keep one"


def test_item_14_duplicate_parquet_and_dataframe_columns_are_named(tmp_path: Path) -> None:
    path = tmp_path / "d.parquet"
    pq.write_table(pa.table([[1.0], [2.0]], names=["x", "x"]), path)
    with pytest.raises(ScytheError, match=r"^design .*d.parquet has 2 columns named 'x' \(columns 1 and 2\)"):
        open_design(path)
    frame = pd.DataFrame([[1.0, 1, 2.0]], columns=["x", "n", "x"])
    with pytest.raises(ScytheError, match=r"^the design has 2 columns named 'x' \(columns 1 and 3\)"):
        open_design(frame)


@pytest.mark.parametrize("body", ["1;1;fast\n", "1,5;1;fast\n"])
def test_item_14_semicolon_delimited_csv_is_hinted(
    tmp_path: Path, cli_env: dict[str, str], body: str
) -> None:
    design = write_design(tmp_path, "x;n;mode\n" + body)
    line = one_line_error(scythe(["run", "sample_experiments:square", "-d", str(design)], cli_env, tmp_path))
    assert f"design {design}" in line
    assert "'x;n;mode'" in line
    assert "this looks semicolon-delimited" in line


def test_item_14_a_semicolon_in_an_unknown_column_is_not_hinted(tmp_path: Path) -> None:
    design = write_design(tmp_path, "weight;kg\n1\n")
    assert open_design(design, square.input_spec).frame is not None


@pytest.mark.parametrize("given", ["somedir", "somedir/", "somedir.csv"])
def test_item_14_a_directory_as_design_is_named_as_such(
    tmp_path: Path, cli_env: dict[str, str], given: str
) -> None:
    (tmp_path / given).mkdir()
    line = one_line_error(scythe(["run", "sample_experiments:square", "-d", given], cli_env, tmp_path))
    assert line.startswith(f"error: design {given.rstrip('/')} is a directory, not a file")


def test_item_14_a_directory_as_input_file_is_named_as_such(tmp_path: Path, cli_env: dict[str, str]) -> None:
    (tmp_path / "weather").mkdir()
    (tmp_path / "ok.csv").write_text("day,dry_bulb_c\n1,1\n")
    design = write_design(
        tmp_path, "r_value,lpd,setpoint,weather_file\n2,5,20,ok.csv\n2,5,20,weather\n2,5,20,missing.csv\n"
    )
    args = ["run", "building_energy.experiment:simulate", "-d", str(design), "-s", str(tmp_path / "s")]
    proc = scythe(args, cli_env, tmp_path)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert f"row 2, field 'weather_file': {tmp_path / 'weather'} is a directory, not a file" in proc.stderr
    assert f"row 3, field 'weather_file': file not found: {tmp_path / 'missing.csv'}" in proc.stderr
    assert not (tmp_path / "s").exists()


def test_item_14_an_experiment_defined_inside_a_function_is_refused_with_a_hint(store: Path) -> None:
    """Like one defined in `__main__`: workers and `scythe resume` could never import it."""

    @ExperimentRegistry.Register(name="local_square")
    def local_square(spec: PointInput) -> PointOutput:
        return PointOutput(y=spec.x, doubled=0)

    with pytest.raises(ScytheError, match=r"^local_square is defined inside a function \(.*<locals>"):
        allocate(local_square, [{"x": 1.0}], store=str(store), workers=1, progress=False)
    assert not store.exists()


@pytest.mark.parametrize("kind", ["a folder without copier.yml", "a missing folder"])
def test_item_11_new_with_a_template_that_is_not_one_is_one_line(
    tmp_path: Path, cli_env: dict[str, str], kind: str
) -> None:
    folder = tmp_path / "not-a-template"
    if kind == "a folder without copier.yml":
        folder.mkdir()
        (folder / "README.md").write_text("some notes")
    proc = scythe(
        ["new", str(tmp_path / "heat-sweep"), "--defaults", "--template", str(folder)], cli_env, tmp_path
    )
    line = one_line_error(proc)
    assert str(folder) in line
    assert ("has no copier.yml" if folder.exists() else "no such folder") in line
    assert not (tmp_path / "heat-sweep").exists()
