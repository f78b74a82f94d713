"""What a Slurm job runs: `python -m scythe.backends.slurm.job batch|gather RUN_JSON [OFFSET]`.

An array element runs batch `OFFSET + SLURM_ARRAY_TASK_ID` through the shared
`scythe.run.task.run_batch` (the spec process, crash isolation and hard timeouts of every
backend) and commits it; the gather job, which Slurm starts once every element has ended
(`afterany`), gathers only when every batch has its commit record, and otherwise leaves the run
for `scythe resume` (the waiter names the batches missing and why). Both are idempotent, so a
requeued element (preemption) or a second gather changes nothing that was committed.
"""

from __future__ import annotations

import os
import sys

from scythe.errors import DamagedBatchesError
from scythe.run.commits import missing_batches
from scythe.run.layout import RunRef
from scythe.run.manifest import read_manifest
from scythe.settings import get_settings


def run_element(run: RunRef, offset: int) -> int:
    """Run this array element's batch, its specs spread over every CPU Slurm gave the element
    (`--cpus-per-task`: that many spec processes, as a Hatchet worker's `--processes`); the exit
    code Slurm records."""
    from scythe.run import isolation
    from scythe.run.task import run_batch

    cpus = int(os.environ.get("SLURM_CPUS_PER_TASK") or 1)
    if cpus > 1:
        manifest = read_manifest(get_settings().open_store(run.store), run)
        isolation.preload([manifest.experiment_ref.split(":")[0]])
        isolation.use_processes(cpus)
    batch = offset + int(os.environ["SLURM_ARRAY_TASK_ID"])
    job = os.environ.get("SLURM_ARRAY_JOB_ID", os.environ.get("SLURM_JOB_ID", ""))
    outcome = run_batch(run, batch, workflow_run_id=f"slurm-{job}_{batch}", settings=get_settings())
    print(
        f"batch {batch}: {outcome.succeeded} ok, {outcome.failed} failed, {outcome.seconds:.1f} s", flush=True
    )
    return 0


def run_gather(run: RunRef) -> int:
    """Gather, if every batch committed; else say which did not (exit 0: nothing went wrong here)."""
    from scythe.run.gather import gather_experiment

    settings = get_settings()
    store = settings.open_store(run.store)
    manifest = read_manifest(store, run)
    missing = missing_batches(store, run, manifest)
    if missing:
        print(f"not gathered: {len(missing)} batch(es) without a commit record: {missing[:20]}", flush=True)
        return 0
    try:
        summary = gather_experiment(store, run, manifest)
    except DamagedBatchesError as damaged:  # reset by gather: they are missing now, for `resume`
        print(f"not gathered: damaged batches reset: {sorted(damaged.damaged)}", flush=True)
        return 0
    print(f"gathered: {summary.succeeded} ok, {summary.failed} failed", flush=True)
    return 0


def main(argv: list[str]) -> int:
    kind, run = argv[0], RunRef.model_validate_json(argv[1])
    return run_element(run, int(argv[2])) if kind == "batch" else run_gather(run)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
