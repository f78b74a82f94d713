"""The template, rendered and used as a researcher would: `scythe new`, its own CI steps, `scythe update`.

Generated projects are installed into their own virtual environment (from uv's cache where it can,
from the package index otherwise: a fresh machine's cache has no index pages), with scythe taken from
this checkout's wheel (dropped in the project's `wheels/`, as a user of an unreleased Scythe would),
and run with their own test suite and allocation script.
"""

from __future__ import annotations

import filecmp
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import EXAMPLE, ROOT
from typer.testing import CliRunner

from scythe.cli import app
from scythe.cli.app import parse_pairs
from scythe.errors import ScytheError
from scythe.project import codegen, scaffold, templates
from scythe.settings import ScytheSettings
from scythe.worker import ScytheWorkerConfig

UV = os.environ.get("UV") or shutil.which("uv")
needs_uv = pytest.mark.skipif(UV is None, reason="uv is not on PATH")
# Files a researcher rewrites in the example; every other file must be what the template renders.
EXAMPLE_EDITS = {
    "README.md",
    "schemas/input.schema.yaml",
    "schemas/output.schema.yaml",
    "src/building_energy/experiment.py",
    "scripts/allocate.py",
    "tests/test_experiment.py",
}
EXAMPLE_REMOVED = {"data/example.csv"}
NOT_PROJECT_FILES = {".git", ".venv", "__pycache__", ".pytest_cache", ".ruff_cache", "uv.lock"}


def env_without_scythe() -> dict[str, str]:
    """The environment minus this venv and SCYTHE_* settings, for a generated project's commands."""
    skip = ("SCYTHE_", "VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT", "PYTHONPATH")
    env = {k: v for k, v in os.environ.items() if not k.startswith(skip)}
    env["NO_COLOR"] = "1"
    return env


def run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        cmd,
        cwd=cwd,
        env=env or env_without_scythe(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"{cmd} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def git(repo: Path, *args: str) -> str:
    return run(["git", *args], repo)


def git_init(repo: Path) -> None:
    git(repo, "init", "--quiet")
    git(repo, "config", "user.name", "Scythe Tests")
    git(repo, "config", "user.email", "tests@scythe.invalid")
    git(repo, "config", "commit.gpgsign", "false")


def commit(repo: Path, message: str) -> None:
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "--message", message)


def render(dest: Path, template: str | None = None, **answers: str) -> Path:
    return scaffold.new(dest, data=answers, defaults=True, template=template).path


def install(project: Path, wheel: Path) -> Path:
    """`uv sync` with this checkout's wheel in the project's wheels/; returns the project's python."""
    assert UV is not None
    shutil.copy2(wheel, project / "wheels")
    run([UV, "sync", "--quiet", "--python", sys.executable], project)
    return project / ".venv" / "bin" / "python"


def scythe_cli(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def only_run(store: Path) -> Path:
    runs = [p for p in store.glob("*/*/*") if (p / "manifest.yml").is_file()]
    assert len(runs) == 1, runs
    return runs[0]


@needs_uv
@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_generated_project_installs_passes_its_own_ci_and_runs(
    tmp_path: Path, fmt: str, scythe_wheel: Path
) -> None:
    project = render(tmp_path / "heat-sweep", schema_format=fmt)
    assert (project / f"schemas/input.schema.{fmt}").is_file()
    python = install(project, scythe_wheel)
    bin_dir = python.parent
    # The project's CI, step by step: lint, specs in step, its own tests.
    run([str(bin_dir / "ruff"), "check", "--no-cache", "."], project)
    run([str(bin_dir / "ruff"), "format", "--check", "--no-cache", "."], project)
    assert "up to date" in scythe_cli("specs", "--check", "--project", str(project))
    tests = run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider"], project)
    assert "2 passed" in tests
    # A small embedded run from its allocation script, recording the image `scythe build` names.
    image = scythe_cli("build", "--dry-run", "--project", str(project)).split("SCYTHE_IMAGE=")[1].split()[0]
    assert image == "heat-sweep:v0.1.0"
    store = tmp_path / "store"
    env = {**env_without_scythe(), "SCYTHE_IMAGE": image, "SCYTHE_CACHE_DIR": str(tmp_path / "cache")}
    allocate = [
        str(python),
        "scripts/allocate.py",
        "--n",
        "6",
        "--workers",
        "2",
        "--quiet",
        "--store",
        str(store),
    ]
    assert ": 6 ok, 0 failed" in run(allocate, project, env)
    manifest = yaml.safe_load((only_run(store) / "manifest.yml").read_text())
    assert (manifest["experiment"], manifest["image"], manifest["n_specs"]) == ("heat_sweep", image, 6)
    scalars = pd.read_parquet(only_run(store) / "final" / "scalars.pq")
    assert list(scalars.columns) == ["score", "peak"]
    assert list(scalars.index.names)[3:] == ["gain", "steps", "method", "data_file"]


@needs_uv
@pytest.mark.slow
def test_a_new_schema_field_flows_through_specs_into_scalars(tmp_path: Path, scythe_wheel: Path) -> None:
    project = render(tmp_path / "heat-sweep")
    python = install(project, scythe_wheel)
    schema = project / "schemas" / "output.schema.yaml"
    schema.write_text(
        schema.read_text()
        + "  spread:\n    type: number\n    minimum: 0\n    description: Peak minus score.\n"
    )
    stale = CliRunner().invoke(app, ["specs", "--check", "--project", str(project)])
    assert stale.exit_code == 1
    assert "+    spread: Annotated[float | None" in stale.output
    assert "src/heat_sweep/specs.py is out of step with schemas/ (+1 -0 lines)" in stale.output
    assert "wrote" in scythe_cli("specs", "--project", str(project))
    assert "up to date" in scythe_cli("specs", "--check", "--project", str(project))
    experiment = project / "src" / "heat_sweep" / "experiment.py"
    experiment.write_text(
        experiment.read_text().replace(
            "        peak=max(transformed),\n",
            "        peak=max(transformed),\n"
            "        spread=max(transformed) - sum(transformed) / len(transformed),\n",
        )
    )
    store = tmp_path / "store"
    env = {**env_without_scythe(), "SCYTHE_CACHE_DIR": str(tmp_path / "cache")}
    run(
        [str(python), "scripts/allocate.py", "--n", "5", "--workers", "1", "--quiet", "--store", str(store)],
        project,
        env,
    )
    scalars = pd.read_parquet(only_run(store) / "final" / "scalars.pq")
    assert list(scalars.columns) == ["score", "peak", "spread"]
    assert (scalars["spread"] >= 0).all()


@pytest.mark.slow
def test_update_keeps_edits_brings_template_changes_and_reports_conflicts(tmp_path: Path) -> None:
    template = tmp_path / "template"
    shutil.copytree(ROOT / "template", template, ignore=shutil.ignore_patterns("__pycache__"))
    git_init(template)
    commit(template, "template v1")
    git(template, "tag", "v1.0.0")
    project = scaffold.new(tmp_path / "heat-sweep", defaults=True, template=str(template)).path
    assert scaffold.read_answers(project)["_commit"] == "v1.0.0"
    git_init(project)
    commit(project, "new experiment")
    readme, experiment = project / "README.md", project / "src" / "heat_sweep" / "experiment.py"
    readme.write_text(readme.read_text() + "\nOur lab's notes.\n")
    experiment.write_text(experiment.read_text().replace("POWERS = {", "POWERS = {  # tuned by us\n    "))
    commit(project, "our edits")

    dockerfile, template_readme = (
        template / "project" / "Dockerfile.jinja",
        template / "project" / "README.md.jinja",
    )
    dockerfile.write_text(
        dockerfile.read_text().replace('ARG SCYTHE_IMAGE=""\n', 'ARG SCYTHE_IMAGE=""\nLABEL x.v2="1"\n')
    )
    template_readme.write_text(template_readme.read_text().replace("## Setup\n", "## Set up\n"))
    commit(template, "template v2")
    git(template, "tag", "v1.1.0")

    result = scaffold.update(project)
    assert (result.old_version, result.new_version, result.conflicts) == ("v1.0.0", "v1.1.0", [])
    assert 'LABEL x.v2="1"' in (project / "Dockerfile").read_text()  # the template's change
    assert "## Set up\n" in readme.read_text()
    assert readme.read_text().endswith("\nOur lab's notes.\n")  # our edits, kept
    assert "# tuned by us" in experiment.read_text()
    assert not result.specs_stale
    commit(project, "template v1.1.0")

    # Both sides change the same line: the conflict is reported, with markers left in the file.
    readme.write_text(readme.read_text().replace("## Set up\n", "## Setting up the lab\n"))
    commit(project, "our heading")
    template_readme.write_text(template_readme.read_text().replace("## Set up\n", "## Installation\n"))
    commit(template, "template v3")
    git(template, "tag", "v1.2.0")
    conflicted = CliRunner().invoke(app, ["update", "--project", str(project)])
    assert conflicted.exit_code == 1
    assert "updated  template v1.1.0 → v1.2.0" in conflicted.output
    assert "1 file(s) need a hand-merge" in conflicted.output
    assert "  README.md" in conflicted.output
    assert "<<<<<<< before updating" in readme.read_text()


def test_update_explains_an_unversioned_template(tmp_path: Path) -> None:
    plain = tmp_path / "plain-template"  # a template folder outside any git repository
    shutil.copytree(ROOT / "template", plain, ignore=shutil.ignore_patterns("__pycache__"))
    project = render(tmp_path / "plain", template=str(plain))
    with pytest.raises(ScytheError, match=r"rendered from an unversioned template .*git-tagged template"):
        scaffold.update(project)


def test_example_is_the_template_plus_the_researchers_edits(tmp_path: Path) -> None:
    answers = scaffold.read_answers(EXAMPLE)
    assert answers["_src_path"] == "../../template"  # portable: relative, inside this repository
    data = {k: str(v) for k, v in answers.items() if not k.startswith("_")}
    rendered = scaffold.new(tmp_path / "building-energy", data=data, defaults=True).path
    assert _public(scaffold.read_answers(rendered)) == _public(answers)
    files = _project_files(rendered) - {".copier-answers.yml", "src/building_energy/specs.py"}
    untouched = sorted(files - EXAMPLE_EDITS - EXAMPLE_REMOVED)
    assert {"Dockerfile", "pyproject.toml", ".env.example", "src/building_energy/worker.py"} <= set(untouched)
    for name in untouched:
        assert filecmp.cmp(rendered / name, EXAMPLE / name, shallow=False), f"{name}: not as rendered"
    assert _project_files(EXAMPLE) >= EXAMPLE_EDITS
    extra = _project_files(EXAMPLE) - files - {".copier-answers.yml", "src/building_energy/specs.py"}
    assert {name.split("/")[0] for name in extra} == {"data"}, extra  # only the user's data was added
    assert codegen.compare(codegen.layout(EXAMPLE)).current, "run `scythe specs` in examples/building_energy"


def _public(answers: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in answers.items() if not k.startswith("_")}


def _project_files(root: Path) -> set[str]:
    return {
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and not NOT_PROJECT_FILES & set(p.relative_to(root).parts)
    }


def test_env_example_documents_every_runtime_setting(tmp_path: Path) -> None:
    project = render(tmp_path / "settings-check")
    text = (project / ".env.example").read_text()
    names = [f"SCYTHE_{name.upper()}" for name in ScytheSettings.model_fields]
    names += [f"SCYTHE_WORKER_{name}" for name in ScytheWorkerConfig.model_fields]
    missing = [name for name in names if f"{name}=" not in text]
    assert not missing, f".env.example lacks {missing}"
    assert "SECRET_ACCESS_KEY=\n" in text  # named, never filled in


def test_new_refuses_a_used_folder_and_bad_answers(tmp_path: Path) -> None:
    used = tmp_path / "used"
    used.mkdir()
    (used / "keep.txt").write_text("mine")
    with pytest.raises(ScytheError, match="already exists and is not empty"):
        scaffold.new(used, defaults=True)
    with pytest.raises(ScytheError, match="Validation error for question 'project_name'"):
        scaffold.new(tmp_path / "Bad_Name", defaults=True)
    assert not (tmp_path / "Bad_Name").exists()  # nothing half-rendered is left behind
    with pytest.raises(ScytheError, match="--data takes KEY=VALUE"):
        parse_pairs(["novalue"], "--data")


def test_cli_new_renders_a_git_ready_project(tmp_path: Path) -> None:
    output = scythe_cli("new", str(tmp_path / "cli-made"), "--defaults")
    project = tmp_path / "cli-made"
    assert "specs" in output
    assert (project / ".git").is_dir()
    assert (project / "src" / "cli_made" / "specs.py").is_file()
    pyproject = (project / "pyproject.toml").read_text()
    assert (
        '[project.entry-points."scythe.experiments"]\ncli_made = "cli_made.experiment:simulate"' in pyproject
    )
    assert 'dependencies = ["scythe-sweep>=0.1,<1"]' in pyproject  # the real Scythe, by default
    assert "[tool.uv.sources]" not in pyproject  # nothing points at a checkout


@needs_uv
@pytest.mark.slow
def test_the_wheel_ships_the_template(tmp_path: Path) -> None:
    assert templates.bundled_template() == ROOT / "template"  # from this checkout
    assert UV is not None
    run([UV, "build", "--wheel", "--offline", "--quiet", "--out-dir", str(tmp_path), str(ROOT)], ROOT)
    (wheel,) = tmp_path.glob("scythe_sweep-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"scythe/template/copier.yml", "scythe/template/project/Dockerfile.jinja"} <= names
