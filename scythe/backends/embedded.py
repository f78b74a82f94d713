"""The embedded default: batches in a local process pool, no services needed.

It calls the same `run_batch` as a Hatchet worker, so shards and final files are identical.
Processes are forked before the progress bar starts any thread, and a crashed worker process
costs only its uncommitted batch: `scythe resume` runs what is missing.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool

from scythe.backends.progress import spec_progress
from scythe.errors import ScytheError
from scythe.run.layout import RunRef
from scythe.run.manifest import Manifest
from scythe.run.task import BatchOutcome, run_batch


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def execute(
    run: RunRef,
    manifest: Manifest,
    batches: list[int],
    *,
    workers: int | None = None,
    progress: bool = True,
) -> list[BatchOutcome]:
    """Run `batches` of `run` and return their commit records, in completion order."""
    if not batches:
        return []
    n = max(1, min(workers or default_workers(), len(batches)))
    outcomes: list[BatchOutcome] = []
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=n, mp_context=context) as pool:
        futures: dict[Future[BatchOutcome], int] = {pool.submit(run_batch, run, b): b for b in batches}
        total = sum(len(manifest.batch_range(b)) for b in batches)
        try:
            with spec_progress(progress) as bar:
                task = bar.add_task(f"{run.experiment} {run.version}", total=total, failed=0)
                failed = 0
                for future in as_completed(futures):
                    outcome = future.result()
                    outcomes.append(outcome)
                    failed += outcome.failed
                    bar.update(task, advance=outcome.succeeded + outcome.failed, failed=failed)
        except BrokenProcessPool as exc:
            raise ScytheError(
                f"a worker process died ({exc}); finished batches are kept: "
                f"`scythe resume {run.prefix}` runs the rest"
            ) from exc
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    return outcomes
