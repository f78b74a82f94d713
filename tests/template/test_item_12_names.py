"""Item 12 with the real template: copier's own validator refuses the names `scythe new` refuses,
and a package named like a soft keyword renders into a project whose own tests pass."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import copier
import pytest
from conftest import ROOT

from scythe.project import names, scaffold

TEMPLATE = ROOT / "template"


@pytest.mark.parametrize("package", ["class", "sys", "pandas", "hatchet_sdk", "allocate"])
def test_item_12_copier_alone_refuses_the_package_names_scythe_new_refuses(
    tmp_path: Path, package: str
) -> None:
    destination = tmp_path / "heat-sweep"
    answers = {"project_name": "heat-sweep", "package_name": package}
    with pytest.raises(ValueError, match="Validation error for question 'package_name'") as caught:
        copier.run_copy(str(TEMPLATE), destination, data=answers, defaults=True, quiet=True)
    expected = names.package_name_problem(package)
    assert expected is not None
    assert str(caught.value).endswith(expected)
    assert not destination.exists() or not any(destination.iterdir())


def test_item_12_copier_alone_refuses_a_project_named_like_a_dependency(tmp_path: Path) -> None:
    answers = {"project_name": "scythe", "package_name": "my_sweep"}
    with pytest.raises(ValueError, match="Validation error for question 'project_name'") as caught:
        copier.run_copy(str(TEMPLATE), tmp_path / "scythe", data=answers, defaults=True, quiet=True)
    expected = names.project_name_problem("scythe")
    assert expected is not None
    assert str(caught.value).endswith(expected)


@pytest.mark.slow
def test_item_12_a_soft_keyword_package_renders_and_passes_its_own_tests(tmp_path: Path) -> None:
    project = scaffold.new(tmp_path / "match", defaults=True).path
    assert (project / "src" / "match" / "specs.py").is_file()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCYTHE_")}
    env["PYTHONPATH"] = os.pathsep.join([str(project / "src"), str(ROOT)])
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout
