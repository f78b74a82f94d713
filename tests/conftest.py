"""Shared fixtures. The example project and the test experiments are importable by module path,
both in this process and in `scythe` subprocesses (through PYTHONPATH).

The folders mirror what they exercise: `unit/` (no services, seconds), `template/` (render the
copier template and run the generated project), `integration/` (a real Postgres, S3 server and
Hatchet engine), `bench/` (the benchmarks at smoke size). Each folder's tests carry its name as
a marker, so `pytest -m unit` runs the fast part alone; CI runs everything.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "building_energy"
PATHS = [str(ROOT / "tests"), str(EXAMPLE / "src")]
for p in PATHS:
    if p not in sys.path:
        sys.path.insert(0, p)


def scythe(
    args: list[str], env: dict[str, str], cwd: Path, check: bool = False
) -> subprocess.CompletedProcess[str]:
    """The `scythe` command in a subprocess, as a user runs it."""
    proc = subprocess.run(
        [sys.executable, "-m", "scythe", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"scythe {args} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def slow_run_until_committed(
    tmp_path: Path, store: Path, env: dict[str, str], *, n: int, batches: int, trace: Path | None = None
) -> subprocess.Popen[str]:
    """`scythe run` of `n` 50 ms specs (batches of 8, 2 workers) in its own process group,
    returned once `batches` batches have committed (so a kill or Ctrl-C lands mid-run)."""
    design = tmp_path / "design.csv"
    columns: dict[str, list[object]] = {"x": [float(20 + i % 80) for i in range(n)], "mode": ["slow"] * n}
    if trace is not None:
        columns["trace"] = [str(trace)] * n
    pd.DataFrame(columns).to_csv(design, index=False)
    args = ["run", "sample_experiments:square", "-d", str(design), "-s", str(store), "--batch-size", "8"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "scythe", *args, "-w", "2", "-q"],
        env=env,
        cwd=tmp_path,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while len(list(store.glob("*/*/*/scatter-gather/results/*/_SUCCESS.json"))) < batches:
        assert proc.poll() is None, "the run ended before it could be stopped"
        assert time.monotonic() < deadline, f"{batches} batches did not commit within 120 s"
        time.sleep(0.05)  # polling a folder another process writes: no event to wait on
    return proc


def example_design(n: int) -> pd.DataFrame:
    """`n` specs from the example project's own design builder (its scripts/allocate.py)."""
    if str(EXAMPLE / "scripts") not in sys.path:
        sys.path.insert(0, str(EXAMPLE / "scripts"))
    from allocate import build_design

    return build_design(n, seed=1)


LAYERS = ("unit", "template", "integration", "bench")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with its folder's name (unit, template, integration, bench)."""
    for item in items:
        layer = item.path.relative_to(ROOT / "tests").parts[0]
        if layer in LAYERS:
            item.add_marker(layer)


@pytest.fixture(scope="session")
def template_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the session's `scythe new` serves the bundled template from (not the user's cache)."""
    return tmp_path_factory.mktemp("template-repo") / "template"


@pytest.fixture(scope="session")
def scythe_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This checkout built as the wheel a user installs (scythe-sweep), once per session."""
    out = tmp_path_factory.mktemp("wheels")
    uv = os.environ.get("UV") or shutil.which("uv")
    assert uv is not None, "uv is not on PATH (make setup installs it)"
    subprocess.run(
        [uv, "build", "--wheel", "--quiet", "--out-dir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = out.glob("scythe_sweep-*.whl")
    return wheel


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, template_repo: Path) -> None:
    """No developer's SCYTHE_* or .env leaks into a test; caches go to the test's tmp dir."""
    for key in list(os.environ):
        if key.startswith("SCYTHE_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("SCYTHE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("SCYTHE_TEMPLATE_REPO", str(template_repo))
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCYTHE_")}
    env["PYTHONPATH"] = os.pathsep.join([*PATHS, env.get("PYTHONPATH", "")])
    env["SCYTHE_CACHE_DIR"] = str(tmp_path / "cache")
    env["SCYTHE_TEMPLATE_REPO"] = os.environ["SCYTHE_TEMPLATE_REPO"]
    env["NO_COLOR"] = "1"
    env["COLUMNS"] = "200"
    return env


@pytest.fixture
def executions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The folder each execution of a `memo_experiments` spec leaves a file in (forked workers
    inherit the variable); `memo_experiments.executed` reads and empties it."""
    from memo_experiments import EXECUTIONS

    folder = tmp_path / "executions"
    folder.mkdir()
    monkeypatch.setenv(EXECUTIONS, str(folder))
    return folder
