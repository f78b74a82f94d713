"""Issue 12 item 3: a Hatchet run submitted before any worker exists waits in the engine's queue.

`scythe run --backend hatchet` registers the run's tasks itself, says once that the run is
queued, and completes when a worker starts 20 s later; `scythe status RUN --json` shows the
queue an autoscaler polls (every batch queued, nothing running) and then the finished run.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from integration.conftest import Stack
from integration.item_12_cli import (
    Background,
    only_run,
    status_json,
    until,
    write_design,
)
from scythe.results import load
from scythe.store import open_store

N_SPECS, BATCH = 12, 3  # four batches
LATE = 20.0  # seconds between submitting and the first worker
EXPERIMENT = "integration.item_12_experiments:unserved"  # no worker serves it until this test's


@pytest.mark.timeout(240)
def test_item_12_03_a_run_submitted_before_any_worker_queues_and_completes_once(
    stack_env: Stack, tmp_path: Path
) -> None:
    stack = stack_env
    uri = stack.store("queued")
    env = {**stack.env, "SCYTHE_STORE": uri}
    design = write_design(tmp_path / "design.csv", [{"x": float(i), "seconds": 0.05} for i in range(N_SPECS)])
    t0 = time.monotonic()
    cli = Background(
        ["run", EXPERIMENT, "-d", str(design), "--backend", "hatchet", "--batch-size", str(BATCH)],
        env,
        tmp_path,
    )
    try:
        until(
            lambda: cli.said("queued: no worker has taken a task yet") or cli.proc.poll() is not None,
            "the queued line",
            timeout=60,
        )
        assert cli.proc.poll() is None, cli.transcript()  # submitted and waiting, not refused
        prefix = only_run(uri)
        queued = status_json(prefix, env, tmp_path)
        assert queued == {
            "run": prefix,
            "backend": "hatchet",
            "specs": N_SPECS,
            "specs_done": 0,
            "batches": N_SPECS // BATCH,
            "done": 0,
            "running": 0,
            "queued": N_SPECS // BATCH,
            "failed": 0,
            "cancelled": 0,
            "gathered": False,
        }

        def still_queued_at_late() -> bool:  # the run keeps waiting, untouched, until the worker
            assert cli.proc.poll() is None, cli.transcript()
            return time.monotonic() - t0 >= LATE

        until(still_queued_at_late, f"{LATE:.0f} s after submitting", timeout=LATE + 5, interval=0.5)
        assert status_json(prefix, env, tmp_path)["queued"] == N_SPECS // BATCH
        stack.start_worker(EXPERIMENT, slots=2, log_name="late")
        code = cli.wait(timeout=120)
    finally:
        cli.stop()
    assert code == 0, cli.transcript()
    assert f"specs    {N_SPECS}  ok {N_SPECS}  failed 0" in "".join(cli.out)
    assert sum("queued: no worker" in line for line in cli.err) == 1  # said once
    scalars = load(prefix, store=uri)["scalars"]
    assert sorted(scalars.index.get_level_values("sort_index")) == list(range(N_SPECS))  # each once
    assert sorted(scalars["y"]) == [float(i) + 1 for i in range(N_SPECS)]
    done = status_json(prefix, env, tmp_path)
    assert (done["done"], done["queued"], done["running"], done["gathered"]) == (N_SPECS // BATCH, 0, 0, True)
    commits = [k for k in open_store(uri).list_keys(prefix) if k.endswith("_SUCCESS.json")]
    assert len(commits) == N_SPECS // BATCH
