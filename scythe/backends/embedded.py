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
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, as_completed, wait
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
from scythe.run.task import run_batch, run_batches
from scythe.settings import ScytheSettings
from scythe.store import Store

log = logging.getLogger("scythe.run")  # the CLI shows its warnings as `warning:` lines
PROGRESS_SECONDS = 0.2  # how often spreading task processes' shared counts are shown


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def lanes(workers: int, batch_size: int | None = None) -> tuple[int, int]:
    """(task processes, spec processes each) for `workers` slots. Up to one per core, a slot is a
    task process with one spec process, as always; beyond that the pool keeps one task process per
    core, each spreading its batch over `workers ÷ cores` spec processes (as a Hatchet worker's
    `--processes`), so 256 slots on 2 cores are 258 processes, not 512, and per-batch work (reading
    inputs, writing shards, committing) is not spread thin over 256 processes sharing 2 cores.

    Batches smaller than that spread (a `batch_size` given by hand) would leave spec processes
    idle, so they keep a task process per slot: `--batch-size 20` on 64 slots (1,280 × 1 s specs)
    took 65.2 s spread, 21.4 s a slot each (medians of 3, 2 cores)."""
    cores = default_workers()
    if workers <= cores or (batch_size is not None and batch_size < workers // cores):
        return max(1, workers), 1
    return cores, workers // cores


def _sizes(workers: int, processes: int) -> list[int]:
    """`workers` spec processes dealt over `processes` task processes, as evenly as they go."""
    return [workers // processes + (i < workers % processes) for i in range(processes)]


def _spread_init(sizes: Any, taken: Any, lane: _Lane) -> None:
    """A task process's initializer: take the next size off the list and start that many spec
    processes (forked from it under the driver's frozen heap); keep the pool's shared batch list."""
    from scythe.run.isolation import spread_over

    with taken.get_lock():
        mine = sizes[taken.value % len(sizes)]
        taken.value += 1
    spread_over(mine)
    global _shared
    _shared = lane


class _Lane:
    """What a pool's task processes share when they spread batches (inherited at fork): the
    batches to run, how many were handed out, and the specs done and failed so far."""

    def __init__(self, context: Any, batches: list[int]) -> None:
        self.batches = context.Array("i", batches, lock=False)
        self.given = context.Value("i", 0)
        self.counts = context.Array("q", [0, 0])  # specs done, of them failed

    def next_batch(self) -> int | None:
        with self.given.get_lock():
            if self.given.value >= len(self.batches):
                return None
            self.given.value += 1
            return int(self.batches[self.given.value - 1])

    def stop(self) -> None:
        """Hand out no more batches (a lane failed, or Ctrl-C): the others end after theirs."""
        with self.given.get_lock():
            self.given.value = len(self.batches)

    def committed(self, outcome: BatchOutcome) -> None:
        with self.counts.get_lock():
            self.counts[0] += outcome.succeeded + outcome.failed
            self.counts[1] += outcome.failed


_shared: _Lane | None = None  # in a spreading task process: its pool's `_Lane`


def _run_lane(run: RunRef, settings: ScytheSettings | None) -> list[BatchOutcome]:
    """A spreading task process's part of the run: the pool's batches, taken one at a time until
    none is left, run back to back on its spec processes (`run_batches`)."""
    from scythe.settings import get_settings

    assert _shared is not None
    lane, outcomes = _shared, []

    def committed(outcome: BatchOutcome) -> None:
        outcomes.append(outcome)
        lane.committed(outcome)

    run_batches(run, lane.next_batch, settings=settings or get_settings(), on_commit=committed)
    return outcomes


def execute(
    run: RunRef,
    manifest: Manifest,
    batches: list[int],
    *,
    workers: int | None = None,
    progress: bool = True,
    settings: ScytheSettings | None = None,
) -> list[BatchOutcome]:
    """Run `batches` of `run` and return their commit records. A task process per slot runs a
    batch per call; task processes that spread their batches over several spec processes each
    take batches from a shared list and run them back to back (`_Lane`)."""
    if not batches:
        return []
    slots = workers or default_workers()
    task_processes, width = lanes(slots, manifest.batch_size)
    n = max(1, min(task_processes, len(batches)))
    context = multiprocessing.get_context("fork")
    lane = _Lane(context, batches) if width > 1 else None
    spread: dict[str, Any] = {}
    if lane is not None:  # more slots than cores: each task process spreads its batches
        sizes, taken = context.Array("i", _sizes(slots, n), lock=False), context.Value("i", 0)
        spread = {"initializer": _spread_init, "initargs": (sizes, taken, lane)}
    with _frozen_heap():
        pool = ProcessPoolExecutor(max_workers=n, mp_context=context, **spread)
        committed, futures = False, list[Future[Any]]()
        try:
            futures = (
                [pool.submit(_run_lane, run, settings) for _ in range(n)]
                if lane is not None
                else [pool.submit(functools.partial(run_batch, settings=settings), run, b) for b in batches]
            )
            total = sum(len(manifest.batch_range(b)) for b in batches)
            with spec_progress(progress) as bar:  # after the fork: the bar starts a thread
                task = bar.add_task(f"{run.experiment} {run.version}", total=total, failed=0)
                outcomes = _follow(
                    futures, lane, lambda done, failed: bar.update(task, completed=done, failed=failed)
                )
            committed = True
            return outcomes
        except BrokenProcessPool as exc:
            raise ScytheError(
                f"a worker process died ({exc}); finished batches are kept: "
                f"`scythe resume {run.prefix}` runs the rest"
            ) from exc
        except BaseException:
            if lane is not None:
                lane.stop()
            for future in futures:
                future.cancel()
            raise
        finally:
            # Every batch committed: the pool's processes end while the run gathers (256 spec
            # processes took 0.44-0.65 s to exit on 2 cores, after the last batch had committed).
            pool.shutdown(wait=not committed)


def _follow(
    futures: list[Future[Any]], lane: _Lane | None, show: Callable[[int, int], None]
) -> list[BatchOutcome]:
    """The calls' commit records, showing the specs done and failed as batches commit."""
    if lane is None:
        outcomes: list[BatchOutcome] = []
        done = failed = 0
        for future in as_completed(futures):
            outcome = future.result()
            outcomes.append(outcome)
            done, failed = done + outcome.succeeded + outcome.failed, failed + outcome.failed
            show(done, failed)
        return outcomes
    pending = set(futures)
    while pending:
        finished, pending = wait(pending, timeout=PROGRESS_SECONDS)
        show(lane.counts[0], lane.counts[1])
        for future in finished:
            future.result()  # a lane's failure ends the run now, not once the others are done
    return [outcome for future in futures for outcome in future.result()]


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
        """Its pool's task processes, one batch each, spread over `lanes` spec processes."""
        slots, spread = lanes(self.workers or default_workers())
        return Capacity(slots, spread=spread)

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
