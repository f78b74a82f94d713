"""Issue 12 item 4: runs always end, on the real stack.

A batch whose every attempt loses its worker ends as `WorkerLost` errors: each time a worker
starts the hanging spec, the test kills that worker's whole process group (-9), and Hatchet
reassigns the batch 30 s after the last heartbeat. With `SCYTHE_WORKER_BATCH_ATTEMPTS=2`, the
third start records the batch's spec as `WorkerLost` without running it, the run is gathered
with the other batch's result, and `scythe run` exits 3. A gather task that fails for good
(here: shards disagreeing on a column's type, on every retry) ends the wait with one line
naming it, instead of waiting forever.
"""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from shards import replace_shard, shard_bytes

from integration.conftest import Stack
from integration.item_12_cli import EXPERIMENT, Background, only_run, status_json, until, write_design
from scythe.dev.processes import start_worker_process
from scythe.results import load
from scythe.run.layout import FINAL_SUMMARY
from scythe.run.manifest import find_run
from scythe.store import S3Store, open_store

ATTEMPTS = 2
FORSAKEN = "integration.item_12_experiments:forsaken"  # served by this test's workers alone


def start_worker(stack: Stack, name: str) -> subprocess.Popen[bytes]:
    proc = start_worker_process(
        [sys.executable, "-m", "scythe", "worker", FORSAKEN, "--slots", "2"],
        log=stack.root / f"{name}.log",
        env={**stack.env, "SCYTHE_WORKER_BATCH_ATTEMPTS": str(ATTEMPTS)},
        what=f"scythe worker ({name})",
    )
    stack.workers.append(proc)  # stopped with the stack's, should the test fail midway
    return proc


def starts(marker: Path) -> int:
    return len(marker.read_text().splitlines()) if marker.exists() else 0


@pytest.mark.timeout(400)
def test_item_12_04_a_batch_that_loses_every_worker_ends_as_worker_lost(
    stack_env: Stack, tmp_path: Path
) -> None:
    stack = stack_env
    uri = stack.store("lost")
    env = {**stack.env, "SCYTHE_STORE": uri}
    marker = tmp_path / "started.txt"
    rows = [{"x": 0.0, "hang": True, "marker": str(marker)}, {"x": 1.0, "hang": False, "marker": ""}]
    design = write_design(tmp_path / "design.csv", rows)
    worker = start_worker(stack, "lost-0")
    cli = Background(
        ["run", FORSAKEN, "-d", str(design), "--backend", "hatchet", "--batch-size", "1"], env, tmp_path
    )
    try:
        for attempt in range(ATTEMPTS):  # every attempt that runs the spec loses its worker
            # Hatchet reassigns after 30 s without a heartbeat, its sweeps ~1-30 s apart
            until(lambda a=attempt: starts(marker) > a, f"attempt {attempt} to start", timeout=120)
            assert worker.poll() is None, (stack.root / f"lost-{attempt}.log").read_text()[-3000:]
            stack.kill(worker)
            worker = start_worker(stack, f"lost-{attempt + 1}")
        code = cli.wait(timeout=120)  # the next attempt records the spec instead of running it
    finally:
        cli.stop()
    assert code == 3, cli.transcript()
    assert starts(marker) == ATTEMPTS  # the spec never ran again
    assert "1 of 2 specs failed" in "".join(cli.err), cli.transcript()
    frames = load(only_run(uri), store=uri)
    assert list(frames["scalars"].index.get_level_values("sort_index")) == [1]
    errors = frames["errors"].reset_index()
    assert errors[["sort_index", "error_type", "attempts"]].values.tolist() == [[0, "WorkerLost", ATTEMPTS]]
    assert "worker was lost" in errors.loc[0, "message"]


@pytest.mark.timeout(300)  # before the fix, the wait counted batch tasks only and never ended
def test_item_12_04_a_gather_that_fails_for_good_ends_the_wait(stack_env: Stack, tmp_path: Path) -> None:
    stack = stack_env
    stack.start_worker(EXPERIMENT, slots=2, log_name="gather-fails")
    uri = stack.store("gatherfail")
    env = {**stack.env, "SCYTHE_STORE": uri}
    design = write_design(tmp_path / "design.csv", [{"x": float(i)} for i in range(4)])
    args = ["run", EXPERIMENT, "-d", str(design), "--backend", "hatchet", "--batch-size", "2"]
    first = Background(args, env, tmp_path)
    assert first.wait(timeout=120) == 0, first.transcript()
    store = open_store(uri)
    assert isinstance(store, S3Store)
    run = find_run(store, only_run(uri))
    # batch 1's scalars as a sound Parquet file whose y column is text, not float
    table = pq.read_table(pa.BufferReader(shard_bytes(store, run, 1, "scalars.pq")))
    table = table.set_column(table.schema.get_field_index("y"), "y", table["y"].cast(pa.string()))
    sink = io.BytesIO()
    pq.write_table(table, sink)
    replace_shard(store, run, 1, "scalars.pq", sink.getvalue())
    store.delete_prefix(run.key("final/"))
    store.client.delete_object(Bucket=store.bucket, Key=store._key(run.key(FINAL_SUMMARY)))

    resumed = Background(["resume", run.prefix], env, tmp_path)  # gathers again: fails every time
    try:
        code = resumed.wait(timeout=180)
    finally:
        resumed.stop()
    assert code == 1, resumed.transcript()
    said = "".join(resumed.err)
    assert "Hatchet gave up on the run (1 gather task(s) failed" in said, said
    assert "disagree on a column's type" in said, said
    assert f"scythe resume {run.prefix}" in said
    status = status_json(run.prefix, env, tmp_path)  # nothing left to run: an autoscaler stops
    assert (status["done"], status["queued"], status["running"], status["failed"]) == (2, 0, 0, 1)
    assert status["gathered"] is False
