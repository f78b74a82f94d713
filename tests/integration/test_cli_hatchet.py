"""`scythe dev`, `run --backend hatchet --no-wait`, `status` and `cancel`, as a user types them."""

from __future__ import annotations

import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from integration.conftest import Stack

SCYTHE = [sys.executable, "-m", "scythe"]


def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SCYTHE, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=900)


def test_dev_up_prints_exports_and_down_stops_everything(cli_env: dict[str, str], tmp_path: Path) -> None:
    env = {**cli_env, "SCYTHE_DEV_DIR": tempfile.mkdtemp(prefix="scythe-dev-")}
    up = run(["dev", "up"], env, tmp_path)
    assert up.returncode == 0, up.stderr
    exported = dict(
        shlex.split(line.removeprefix("export "))[0].split("=", 1) for line in up.stdout.splitlines()
    )
    for key in (
        "AWS_ENDPOINT_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "HATCHET_CLIENT_TOKEN",
        "HATCHET_CLIENT_TLS_STRATEGY",
        "SCYTHE_STORE",
    ):
        assert exported.get(key), key
    assert exported["SCYTHE_STORE"].startswith("s3://")
    again = run(["dev", "up"], env, tmp_path)  # reuses the running stack
    assert again.stdout == up.stdout
    state = Path(env["SCYTHE_DEV_DIR"]) / "state.json"
    pids = [int(p) for p in pd.read_json(state, typ="series")["pids"].values()]
    down = run(["dev", "down"], env, tmp_path)
    assert down.returncode == 0
    assert "stopped" in down.stderr
    for pid in pids:
        assert (
            not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()
        )
    assert not state.exists()


def test_no_wait_status_and_cancel(stack: Stack, tmp_path: Path) -> None:
    stack.start_worker("sample_experiments:stubborn", slots=1, log_name="cancel")
    env = {**stack.env, "SCYTHE_STORE": stack.store("cli")}
    design = tmp_path / "design.csv"
    n = 400
    pd.DataFrame({"x": [float(20 + i % 80) for i in range(n)], "mode": ["slow"] * n}).to_csv(
        design, index=False
    )
    submitted = run(
        ["run", "sample_experiments:stubborn", "-d", str(design), "--backend", "hatchet", "--no-wait", "-q"],
        env,
        tmp_path,
    )
    assert submitted.returncode == 0, submitted.stderr
    assert "submitted" in submitted.stdout
    prefix = submitted.stdout.split()[1]
    status = run(["status", prefix], env, tmp_path)
    assert status.returncode == 0, status.stderr
    assert f"of {n} done" in status.stdout
    assert "tasks" in status.stdout
    cancelled = run(["cancel", prefix], env, tmp_path)
    assert cancelled.returncode == 0, cancelled.stderr
    deadline = time.monotonic() + 120
    while True:
        status = run(["status", prefix], env, tmp_path)
        counts = status.stdout.split("tasks", 1)[1]
        if "cancelled 0" not in counts and "queued 0" in counts and "running 0" in counts:
            break
        assert time.monotonic() < deadline, status.stdout
        time.sleep(1)
    assert "gathered  no" in status.stdout
