"""The embedded default: batches in a local process pool, no services needed.

It calls the same `run_batch` as a Hatchet worker, so shards and final files are identical.
Processes are forked before the progress bar starts any thread, and a crashed worker process
costs only its uncommitted batch: `scythe resume` runs what is missing.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import logging
import multiprocessing
import os
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from typing import Any, ClassVar

from scythe.backends.base import RecursionMap, TaskCounts
from scythe.backends.progress import spec_progress
from scythe.errors import DamagedBatchesError, ScytheError
from scythe.registry import Experiment
from scythe.run.batching import Capacity
from scythe.run.commits import BatchOutcome, GatherSummary, missing_batches
from scythe.run.gather import gather_experiment
from scythe.run.layout import RunRef
from scythe.run.manifest import Manifest
from scythe.run.task import run_batch
from scythe.settings import ScytheSettings
from scythe.store import Store

log = logging.getLogger("scythe.run")  # the CLI shows its warnings as `warning:` lines


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def execute(
    run: RunRef,
    manifest: Manifest,
    batches: list[int],
    *,
    workers: int | None = None,
    progress: bool = True,
    settings: ScytheSettings | None = None,
) -> list[BatchOutcome]:
    """Run `batches` of `run` and return their commit records, in completion order."""
    if not batches:
        return []
    n = max(1, min(workers or default_workers(), len(batches)))
    outcomes: list[BatchOutcome] = []
    context = multiprocessing.get_context("fork")
    with _frozen_heap(), ProcessPoolExecutor(max_workers=n, mp_context=context) as pool:
        one_batch = functools.partial(run_batch, settings=settings)
        futures: dict[Future[BatchOutcome], int] = {pool.submit(one_batch, run, b): b for b in batches}
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


@contextlib.contextmanager
def _frozen_heap() -> Iterator[None]:
    """`gc.freeze()` while the pool's task processes fork from this one: their collections then
    skip every object inherited, so its pages stay shared instead of being copied into each
    process (with 256 workers, one run of 2,560 × 1 s specs: 29.6 s → 24.3 s on 2 cores)."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


class EmbeddedBackend:
    """The run executes while it is waited on: `submit` and `resume` start nothing by themselves."""

    name: ClassVar[str] = "embedded"
    detaches: ClassVar[bool] = False
    batch_overhead: ClassVar[float] = 0.02  # a pool round trip and a commit to a local store

    def __init__(self, settings: ScytheSettings, workers: int | None = None) -> None:
        self.settings = settings
        self.workers = workers or settings.workers

    def check(self, experiment: Experiment[Any, Any]) -> None:
        """Anything importable runs here."""

    def capacity(self, experiment: Experiment[Any, Any]) -> Capacity | None:
        """Its pool's processes, one batch (and one spec) each."""
        return Capacity(self.workers or default_workers())

    def submit(self, store: Store, run: RunRef, manifest: Manifest, shape: RecursionMap | None) -> None:
        """Nothing to start: `wait` runs the batches (there is no tree to shape)."""

    def resume(self, store: Store, run: RunRef, manifest: Manifest) -> None:
        """Nothing to start: `wait` runs what has no commit record."""

    def wait(self, store: Store, run: RunRef, manifest: Manifest, *, progress: bool) -> GatherSummary:
        """Run what has no commit record, then gather. Batches gather finds damaged (and resets)
        run once more and the gather is repeated, so one `scythe resume` heals a damaged store;
        damage found again the second time is raised, naming the batches."""
        batches = missing_batches(store, run, manifest)
        execute(run, manifest, batches, workers=self.workers, progress=progress, settings=self.settings)
        try:
            return gather_experiment(store, run, manifest)
        except DamagedBatchesError as damaged:
            log.warning("%s", damaged.found)
        again = missing_batches(store, run, manifest)  # the damaged ones, reset by gather
        execute(run, manifest, again, workers=self.workers, progress=progress, settings=self.settings)
        return gather_experiment(store, run, manifest)

    def status(self, run: RunRef, manifest: Manifest) -> TaskCounts | None:
        return None  # the store knows everything there is

    def cancel(self, run: RunRef, manifest: Manifest) -> None:
        raise ScytheError("only Hatchet and Slurm runs can be cancelled; stop an embedded run with Ctrl-C")


def make(settings: ScytheSettings, *, workers: int | None = None) -> EmbeddedBackend:
    return EmbeddedBackend(settings, workers)
