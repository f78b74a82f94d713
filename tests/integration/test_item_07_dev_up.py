"""`scythe dev up` / `down` as a user runs them, against the real services.

Every process the command starts inherits a marker variable unique to the test, so "nothing is
left running" is checked by scanning /proc for that marker (zombies have no environment and do not
count: this machine's init does not reap them). Each test uses its own state folder.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import PATHS

from scythe.dev.engine import DEFAULT_ENGINE_VERSION, ENGINE_COMMANDS, ensure_engine_built

SCYTHE = [sys.executable, "-m", "scythe"]
MARK = "SCYTHE_TEST_ITEM_07"


def _env(dev_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SCYTHE_", "HATCHET_", "AWS_"))}
    env.update(
        PYTHONPATH=os.pathsep.join(PATHS),
        SCYTHE_DEV_DIR=str(dev_dir),
        NO_COLOR="1",
        COLUMNS="200",
        **{MARK: uuid.uuid4().hex},
    )
    return env


def _scythe(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SCYTHE, *args], env=env, capture_output=True, text=True, timeout=900)


def _marked(env: dict[str, str]) -> dict[int, str]:
    """Live processes carrying this test's marker: pid -> command line."""
    needle = f"{MARK}={env[MARK]}".encode()
    found = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if needle in (proc / "environ").read_bytes().split(b"\0"):
                found[int(proc.name)] = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue  # exited meanwhile
    return found


def _none_left(env: dict[str, str], timeout: float = 30) -> None:
    """Poll until no marked process is alive (a SIGKILLed one takes a moment to go)."""
    deadline = time.monotonic() + timeout
    while left := _marked(env):
        assert time.monotonic() < deadline, f"still running: {left}"
        time.sleep(0.05)


@dataclass
class Watched:
    returncode: int
    stderr: str
    states: list[dict[str, object]]  # every distinct state.json seen while `up` ran


def _up_watching_state(env: dict[str, str], *, until: str | None = None) -> Watched:
    """`scythe dev up`, reading its state file while it runs. With ``until``, SIGKILL the command
    (not the services, which run in sessions of their own) as soon as that service is recorded."""
    proc = subprocess.Popen(
        [*SCYTHE, "dev", "up"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    state_file = Path(env["SCYTHE_DEV_DIR"]) / "state.json"
    states: list[dict[str, object]] = []
    deadline = time.monotonic() + 900
    while proc.poll() is None:
        assert time.monotonic() < deadline, "scythe dev up did not finish"
        try:
            seen = json.loads(state_file.read_text())
        except (OSError, ValueError):
            seen = None
        if seen is not None and seen not in states:
            states.append(seen)
            if until is not None and until in seen["pids"]:
                proc.kill()
        time.sleep(0.05)  # polling a file another process writes
    _, stderr = proc.communicate()
    return Watched(proc.returncode, stderr, states)


def _fake_engine(cache: Path) -> None:
    """An engine build cache whose hatchet-lite fails at start (like a port already taken), after
    leaving a child behind in its process group; migrate and admin are the real ones."""
    real = ensure_engine_built(DEFAULT_ENGINE_VERSION)
    fake = cache / "scythe" / "hatchet" / DEFAULT_ENGINE_VERSION / real.name
    fake.mkdir(parents=True)
    for command in ENGINE_COMMANDS:
        if command != "hatchet-lite":
            (fake / command).symlink_to(real / command)
    lite = fake / "hatchet-lite"
    lite.write_text(
        "#!/bin/sh\nsleep 600 &\necho 'listen tcp 127.0.0.1:8080: bind: address already in use'\nexit 1\n"
    )
    lite.chmod(0o755)


def test_item_07_a_failed_start_stops_everything_and_the_next_up_works(tmp_path: Path) -> None:
    env = _env(tmp_path / "dev")
    _fake_engine(tmp_path / "cache")
    failed = _up_watching_state({**env, "XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert failed.returncode == 1, failed.stderr
    assert "hatchet-lite: process exited with 1" in failed.stderr
    assert "Traceback" not in failed.stderr
    # Each service was recorded as it started (hatchet-lite may come and go between two reads).
    recorded = {name for state in failed.states for name in state["pids"]}  # type: ignore[attr-defined]
    assert {"postgres", "seaweedfs"} <= recorded, failed.states
    _none_left(env)  # Postgres, SeaweedFS and the fake's child alike
    assert not Path(str(failed.states[-1]["cluster_dir"])).exists()
    assert not (tmp_path / "dev" / "state.json").exists()
    down = _scythe(["dev", "down"], env)
    assert (down.returncode, down.stderr.strip()) == (0, "nothing was running")

    again = _scythe(["dev", "up"], env)  # the real engine now
    assert again.returncode == 0, again.stderr
    assert "export HATCHET_CLIENT_TOKEN=" in again.stdout
    down = _scythe(["dev", "down"], env)
    assert (down.returncode, down.stderr.strip()) == (0, "stopped hatchet-lite, seaweedfs, postgres")
    _none_left(env)


def test_item_07_down_stops_the_orphans_of_a_killed_start(tmp_path: Path) -> None:
    env = _env(tmp_path / "dev")
    killed = _up_watching_state(env, until="postgres")
    assert killed.returncode == -signal.SIGKILL
    orphans = _marked(env)
    assert any("postgres" in cmd for cmd in orphans.values()), orphans  # left running by the kill
    cluster = Path(str(killed.states[-1]["cluster_dir"]))
    down = _scythe(["dev", "down"], env)
    assert down.returncode == 0, down.stderr
    assert down.stderr.startswith("stopped ")
    assert "postgres" in down.stderr
    _none_left(env)
    assert not cluster.exists()
    assert not (tmp_path / "dev" / "state.json").exists()
    assert _scythe(["dev", "down"], env).stderr.strip() == "nothing was running"


@dataclass
class Up:
    env: dict[str, str]
    dev_dir: Path
    modes_before: dict[Path, int]


@pytest.fixture(scope="module")
def up_under_private_parent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    """One `scythe dev up` whose state folder is below a 0700 folder (like a home), for the
    two tests below; `dev down` afterwards."""
    home = tmp_path_factory.mktemp("home")
    home.chmod(0o700)
    dev_dir = home / "cache" / "scythe" / "dev"
    watched = [home, *home.parents, Path("/var/tmp")]
    modes_before = {p: p.stat().st_mode for p in watched}
    env = _env(dev_dir)
    up = _scythe(["dev", "up"], env)
    assert up.returncode == 0, up.stderr
    try:
        yield Up(env, dev_dir, modes_before)
    finally:
        _scythe(["dev", "down"], env)
        _none_left(env)


def test_item_07_dev_up_changes_no_mode_outside_its_state_folder(up_under_private_parent: Up) -> None:
    changed = {
        str(p): f"{stat.filemode(before)} -> {stat.filemode(p.stat().st_mode)}"
        for p, before in up_under_private_parent.modes_before.items()
        if p.stat().st_mode != before
    }
    assert changed == {}
    # As root, Postgres (run as `postgres`) got a private folder of its own instead.
    state = json.loads((up_under_private_parent.dev_dir / "state.json").read_text())
    cluster = Path(state["cluster_dir"]).stat()
    assert stat.S_IMODE(cluster.st_mode) == 0o700
    if os.geteuid() == 0:
        assert cluster.st_uid != 0


def _listening() -> dict[str, tuple[str, int]]:
    """Every LISTEN socket of the machine: inode -> (local address, port); the address in hex as
    /proc/net/tcp{,6} shows it."""
    found = {}
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A":  # TCP_LISTEN
                addr, port = fields[1].rsplit(":", 1)
                found[fields[9]] = (addr, int(port, 16))
    return found


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes


LOOPBACK = {"0100007F", "00000000000000000000000001000000", "0000000000000000FFFF00000100007F"}


def test_item_07_everything_the_stack_starts_listens_on_loopback_only(up_under_private_parent: Up) -> None:
    state = json.loads((up_under_private_parent.dev_dir / "state.json").read_text())
    listening = _listening()
    per_process = {
        pid: {listening[i] for i in _socket_inodes(pid) if i in listening}
        for pid in _marked(up_under_private_parent.env)
    }
    for name, pid in state["pids"].items():
        assert per_process.get(pid), f"{name} (pid {pid}) listens on nothing: the check would be void"
    assert len(per_process[state["pids"]["hatchet-lite"]]) >= 5  # gRPC, API, health, static, proxy
    elsewhere = {
        pid: outside
        for pid, sockets in per_process.items()
        if (outside := {(addr, port) for addr, port in sockets if addr not in LOOPBACK})
    }
    assert elsewhere == {}, f"listening beyond 127.0.0.1: {elsewhere}"
