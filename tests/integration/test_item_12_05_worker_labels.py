"""Issue 12 item 5 on the real stack: an experiment registered with `worker_labels={"gpu": True}`
runs its batches only on a worker started with `--label gpu=true`, never on an unlabelled one
serving the same experiment; the unlabelled worker does run batches of an unlabelled experiment.

Each spec records the `WITNESS_TAG` of the worker whose spec process ran it (set in that worker's
environment, inherited by its fork server and spec processes)."""

from __future__ import annotations

from pathlib import Path

from integration.conftest import Stack
from integration.item_12_workers import Workers, workers  # noqa: F401 (the fixture)
from scythe import allocate
from scythe.backends.hatchet import client
from scythe.backends.hatchet.monitor import wait_for_gather
from scythe.dev.processes import wait_until
from scythe.results import load
from scythe.run.manifest import read_manifest
from scythe.store import open_store

SERVED = ("worker_witness:gpu_witness", "worker_witness:witness")


def test_item_12_05_labelled_batches_wait_for_and_run_only_on_the_labelled_worker(
    stack_env: Stack,
    workers: Workers,  # noqa: F811
    tmp_path: Path,
) -> None:
    from worker_witness import TAG, gpu_witness, witness

    workers.start(*SERVED, "--processes", "2", env={**stack_env.env, TAG: "plain"})
    uri = stack_env.store("labels")
    design = [{"x": float(i)} for i in range(16)]
    queued = allocate(
        gpu_witness, design, store=uri, backend="hatchet", batch_size=1, wait=False, progress=False
    )
    store, engine = open_store(uri), client.connect()
    manifest = read_manifest(store, queued.run)
    # The plain worker runs the scatter (so it is up and taking tasks), never the batches.
    wait_until(
        lambda: client.run_tasks(engine, queued.run, manifest.created_at).batch.queued == 16,
        "the run's 16 batch tasks to be queued",
        timeout=120,
    )
    workers.start(*SERVED, "--processes", "2", "--label", "gpu=true", env={**stack_env.env, TAG: "gpu"})
    summary = wait_for_gather(store, queued.run, manifest, progress=False, hatchet=engine)
    assert (summary.succeeded, summary.failed) == (16, 0)
    assert load(queued.run.prefix, store=uri)["scalars"]["tag"].tolist() == ["gpu"] * 16
    # The control: unlabelled batches that each wait to meet a spec of the other worker, so both
    # workers' slots fill and each worker runs some (the plain worker takes batch tasks too).
    meeting = [{"x": float(i), "meet": str(tmp_path / "meet"), "by": "tag"} for i in range(8)]
    control = allocate(witness, meeting, store=uri, backend="hatchet", batch_size=1, progress=False)
    assert sorted(set(load(control.run.prefix, store=uri)["scalars"]["tag"])) == ["gpu", "plain"]
