"""The package's shape: every module imports on its own, and the light entry points stay light."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import pytest

import scythe

MODULES = sorted(
    m.name for m in pkgutil.walk_packages(scythe.__path__, prefix="scythe.") if m.name != "scythe.__main__"
)
HEAVY = ("pandas", "pyarrow", "hatchet_sdk")


def _fresh(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )


def test_the_walk_finds_every_sub_package() -> None:
    for package in (
        "run",
        "store",
        "backends",
        "backends.hatchet",
        "results",
        "project",
        "cli",
        "dev",
        "compat",
    ):
        assert f"scythe.{package}" in MODULES


@pytest.mark.parametrize("module", MODULES)
def test_every_module_imports_alone_in_a_fresh_interpreter(module: str) -> None:
    done = _fresh(f"import {module}")
    assert done.returncode == 0, done.stderr


def _loaded_after(code: str) -> list[str]:
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    done = _fresh(probe)
    assert done.returncode == 0, done.stderr
    loaded: list[str] = json.loads(done.stdout.splitlines()[-1])
    return loaded


def test_import_scythe_loads_no_heavy_library() -> None:
    assert not set(HEAVY) & set(_loaded_after("import scythe"))


def test_scythe_help_loads_no_heavy_library() -> None:
    code = (
        "import sys\nfrom scythe.cli import app\nsys.argv = ['scythe', '--help']\n"
        "try:\n    app()\nexcept SystemExit:\n    pass"
    )
    assert not set(HEAVY) & set(_loaded_after(code))


def test_the_runtime_never_imports_the_dev_stack_or_the_project_tooling() -> None:
    code = "import scythe.run.allocation, scythe.run.task, scythe.run.gather, scythe.backends.embedded"
    code += ", scythe.results"
    loaded = _fresh(f"{code}\nimport sys\nprint(sorted(m for m in sys.modules if m.startswith('scythe.')))")
    assert loaded.returncode == 0, loaded.stderr
    assert "scythe.dev" not in loaded.stdout
    assert "scythe.project" not in loaded.stdout
    assert "scythe.compat" not in loaded.stdout
