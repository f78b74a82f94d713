"""One task: run a batch of specs through the experiment and commit its result shard.

Every backend calls `run_batch`, so a laptop run and a thousand-worker run produce the same
shards. The specs run in a spec process the task watches (`scythe.run.isolation`): a spec that
kills its process or overruns its timeout fails alone, recorded in errors.pq, and the rest of the
batch still lands. A shard is a handful of Parquet files plus a commit record written last; a
batch without its commit record is simply run again, so a crash of the task itself never leaves
a half result behind.
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from scythe.context import using_logger, using_settings
from scythe.registry import load_experiment
from scythe.run import isolation, spec_logs, timings
from scythe.run.commits import BatchOutcome, FrameShard
from scythe.run.execute import SpecJob, SpecOutcome, alarm_handler, run_spec
from scythe.run.layout import COMMIT, RESULTS, RunRef
from scythe.run.manifest import Manifest, cached_manifest
from scythe.settings import ScytheSettings, get_settings
from scythe.store import Store, parquet_bytes

TIMINGS = "timings.pq"  # a batch's timings shard (`scythe.run.timings`)
GRACE_SECONDS = 2.0  # past its timeout, an attempt's in-process alarm has this long before a kill

_Logger = logging.Logger | logging.LoggerAdapter[logging.Logger]


class _Rows:
    """What a batch accumulates before it is written, in the batch's spec order."""

    def __init__(self, outcomes: dict[int, SpecOutcome], jobs: list[SpecJob], batch: int) -> None:
        self.scalars: list[dict[str, Any]] = []
        self.file_refs: list[dict[str, Any]] = []
        self.errors: list[dict[str, Any]] = []
        self.frames: dict[str, list[pa.Table]] = {}
        self.frame_index: dict[str, list[str]] = {}
        self.seconds = sum(o.seconds for o in outcomes.values())  # the specs' own, not the batch's wall
        for position in sorted(outcomes):
            self.add(outcomes[position])
        self.timing_index = [job.index for job in jobs if job.position in outcomes]
        self.timings = [
            timings.spec_row(outcomes[job.position], batch) for job in jobs if job.position in outcomes
        ]

    def add(self, outcome: SpecOutcome) -> None:
        if outcome.error is not None:
            self.errors.append(outcome.error)
            return
        if outcome.scalars is not None:
            self.scalars.append(outcome.scalars)
        if outcome.file_refs is not None:
            self.file_refs.append(outcome.file_refs)
        for name, (frame, frame_index) in outcome.frames.items():
            self.frames.setdefault(name, []).append(frame)
            self.frame_index.setdefault(name, frame_index)


def run_batch(
    run: RunRef,
    batch: int,
    *,
    root_workflow_run_id: str | None = None,
    workflow_run_id: str | None = None,
    logger: _Logger | None = None,
    settings: ScytheSettings | None = None,
) -> BatchOutcome:
    """Execute batch `batch` of `run` and commit its shard; idempotent (a re-run overwrites).

    `settings` are the worker's (read once where it started); only a direct call reads them here.
    A store that refuses a write (full, read-only) raises `StoreWriteError` for the whole task, a
    spec's returned file included: the batch stays uncommitted, and `scythe resume` runs it again.
    """
    started, began = time.perf_counter(), timings.now()
    settings = settings or get_settings()
    store = settings.open_store(run.store)
    manifest = cached_manifest(store, run)
    jobs = _jobs(store, run, manifest, batch, root_workflow_run_id)
    buffer = io.StringIO()
    outcomes = isolation.run_isolated(
        jobs,
        _spec_process,
        (run, settings, workflow_run_id, manifest),  # the manifest travels: no GET per spec process
        hard_limit=manifest.timeout + GRACE_SECONDS,
        on_log=lambda text: _relay(text, buffer, logger),
    )
    return _commit(store, run, batch, _Ran(jobs, buffer, started, began), outcomes)


def run_batches(
    run: RunRef,
    next_batch: Callable[[], int | None],
    *,
    settings: ScytheSettings,
    on_commit: Callable[[BatchOutcome], None],
) -> None:
    """Run and commit the batches `next_batch` gives (None: no more) back to back on this process's
    spec processes, as `run_batch` runs one: a process that has run its part of a batch starts
    on the next batch's while the last specs of the first still run, and a batch is written and
    committed while the next one's run. Each batch run alone, its spec processes wait for its
    slowest and for its commit: 45 ms of every 350 ms batch of 1,000 × 10 ms specs on 32
    processes (2 cores)."""
    store = settings.open_store(run.store)
    manifest = cached_manifest(store, run)
    ran: dict[int, tuple[int, _Ran]] = {}  # by group in flight: its batch, what its commit needs
    given = 0  # groups given so far: the next one's number

    def more() -> list[SpecJob] | None:
        nonlocal given
        batch = next_batch()
        if batch is None:
            return None
        jobs = _jobs(store, run, manifest, batch, None)
        ran[given], given = (batch, _Ran(jobs, io.StringIO(), time.perf_counter(), timings.now())), given + 1
        return jobs

    def on_log(group: int, text: str) -> None:
        ran[group][1].log.write(text)

    def done(group: int, outcomes: dict[int, SpecOutcome]) -> None:
        batch, batch_ran = ran.pop(group)
        on_commit(_commit(store, run, batch, batch_ran, outcomes))

    isolation.run_stream(
        isolation.Stream(more, on_log, done),
        _spec_process,
        (run, settings, None, manifest),
        hard_limit=manifest.timeout + GRACE_SECONDS,
    )


class _Ran:
    """A batch's jobs, the log its specs wrote, and when it started (a wall clock and the epoch)."""

    def __init__(self, jobs: list[SpecJob], log: io.StringIO, started: float, began: datetime) -> None:
        self.jobs, self.log, self.started, self.began = jobs, log, started, began


def _jobs(
    store: Store, run: RunRef, manifest: Manifest, batch: int, root_workflow_run_id: str | None
) -> list[SpecJob]:
    index_names = load_experiment(manifest.experiment_ref).input_spec.index_fields(manifest.computed_features)
    jobs = []
    for position, row in enumerate(_read_rows(store, run, batch)):
        if root_workflow_run_id:
            row["root_workflow_run_id"] = root_workflow_run_id
        index = {name: row.get(name) for name in index_names}
        for name in manifest.computed_features:  # stored beside the fields, not fields of the spec
            row.pop(name, None)
        jobs.append(SpecJob(position, row, index))
    return jobs


def _commit(
    store: Store, run: RunRef, batch: int, ran: _Ran, outcomes: dict[int, SpecOutcome]
) -> BatchOutcome:
    """Write the batch's shards and then its commit record (unless the store refused a spec's
    file: then the batch stays uncommitted)."""
    refused = next((o.refused for o in outcomes.values() if o.refused is not None), None)
    if refused is not None:  # a spec's output could not be stored: the batch stays uncommitted
        raise refused
    outcome = _write_shard(store, run, batch, _Rows(outcomes, ran.jobs, batch))
    outcome.seconds = round(time.perf_counter() - ran.started, 6)
    outcome.started, outcome.finished = ran.began, timings.now()
    if ran.log.getvalue():
        store.put_bytes(run.shard(batch, "log.txt"), ran.log.getvalue().encode())
    store.put_bytes(run.shard(batch, COMMIT), outcome.model_dump_json().encode())
    return outcome


def _read_rows(store: Store, run: RunRef, batch: int) -> list[dict[str, Any]]:
    # A batch's inputs are small: one GET into memory (no temp file, no transfer threads).
    data = store.get_bytes(run.batch_input(batch))
    rows: list[dict[str, Any]] = pq.ParquetFile(pa.BufferReader(data)).read(use_threads=False).to_pylist()
    return rows


def _spec_process(
    run: RunRef,
    settings: ScytheSettings,
    workflow_run_id: str | None,
    manifest: Manifest,
    jobs: list[SpecJob],
    conn: Any,
    board: Any,
) -> None:
    """One request in the spec process: the same experiment, store and manifest as its task."""
    store = settings.open_store(run.store)
    experiment = load_experiment(manifest.experiment_ref)
    log = io.StringIO()

    def run_one(job: SpecJob, mark: Any) -> SpecOutcome:
        with spec_logs.section(log, int(job.index.get("sort_index", job.position))):  # issue 14.7: per spec
            return run_spec(experiment, manifest, job, workflow_run_id, store, run, mark)

    with using_logger(_capturing_logger(log)), using_settings(settings), alarm_handler():
        isolation.child_loop(jobs, run_one, conn, board, log)


def _relay(text: str, buffer: io.StringIO, logger: _Logger | None) -> None:
    """What the spec process logged or printed: into the batch's log, and the worker's logger."""
    buffer.write(text)
    if logger is not None:
        for line in text.splitlines():
            logger.info("%s", line)


def _capturing_logger(buffer: io.StringIO) -> logging.Logger:
    # A standalone logger (not registered with logging's manager): one per spec process, freed
    # with it, never shared between batches.
    logger = logging.Logger("scythe.task.batch")
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger


def _write_shard(store: Store, run: RunRef, batch: int, out: _Rows) -> BatchOutcome:
    """The batch's shards, as files or inline in its record (`BatchOutcome.inline`), and that
    record, not yet written: the caller commits it last."""
    outcome = BatchOutcome(
        batch=batch, succeeded=len(out.scalars), failed=len(out.errors), spec_seconds=round(out.seconds, 6)
    )
    shards = _Shards(store, run, outcome)
    outcome.scalars = shards.put_rows("scalars.pq", out.scalars)
    outcome.file_refs = shards.put_rows("result_file_refs.pq", out.file_refs)
    outcome.errors = shards.put_rows("errors.pq", out.errors)
    if out.timings:
        outcome.timings = shards.put(TIMINGS, timings.timing_table(out.timing_index, out.timings))
    for name, frames in out.frames.items():
        file = shards.put(f"df-{name}.pq", pa.concat_tables(frames, promote_options="permissive"))
        outcome.frames[name] = FrameShard(file=file, index=out.frame_index[name])
    return outcome


class _Shards:
    """Writes a batch's shards: each into its record while the store's `inline_bytes` last (in
    the order written: scalars first), the rest as files beside it."""

    def __init__(self, store: Store, run: RunRef, outcome: BatchOutcome) -> None:
        self.store, self.run, self.outcome = store, run, outcome
        self.budget = store.inline_bytes

    def put(self, file: str, table: pa.Table) -> str:
        data = parquet_bytes(table)
        if len(data) <= self.budget:
            self.outcome.inline[file] = data
            self.budget -= len(data)
        else:
            self.store.put_bytes(self.run.shard(self.outcome.batch, file), data)
        return file

    def put_rows(self, file: str, rows: list[dict[str, Any]]) -> str | None:
        return self.put(file, pa.Table.from_pylist(rows)) if rows else None


ATTEMPT_PREFIX = "attempt-"  # a batch's attempt records: results/NNNNNN/attempt-KKK.json


def record_attempt(store: Store, run: RunRef, batch: int, attempt: int) -> None:
    """Record that attempt `attempt` of batch `batch` starts running its specs (one small PUT).

    An engine's retry counter also counts retries that never reached a worker (Hatchet bumps it
    when it reassigns tasks after its own database outage), so attempts are counted here."""
    store.put_bytes(run.shard(batch, f"{ATTEMPT_PREFIX}{attempt:03d}.json"), b"{}")


def attempts_started(store: Store, run: RunRef, batch: int) -> int:
    """How many attempts of batch `batch` started running specs (one LIST of its folder)."""
    folder = run.key(f"{RESULTS}/{batch:06d}/")
    return sum(k.rsplit("/", 1)[-1].startswith(ATTEMPT_PREFIX) for k in store.list_keys(folder))


def run_or_record_lost(
    run: RunRef,
    batch: int,
    *,
    attempt: int,
    limit: int,
    root_workflow_run_id: str | None,
    workflow_run_id: str | None,
    settings: ScytheSettings,
) -> BatchOutcome:
    """Attempt `attempt` of a batch on a backend that retries it on another worker: run it, or,
    once `limit` attempts started and none committed, record its specs as `WorkerLost`.

    A first attempt costs one PUT more than `run_batch` alone (its attempt record); only a
    retry LISTs the batch's folder to count the attempts before it.
    """
    store = settings.open_store(run.store)
    started = attempts_started(store, run, batch) if attempt else 0
    if started >= limit:
        return commit_lost_batch(
            run, batch, attempts=started, root_workflow_run_id=root_workflow_run_id, settings=settings
        )
    record_attempt(store, run, batch, attempt)
    return run_batch(
        run,
        batch,
        root_workflow_run_id=root_workflow_run_id,
        workflow_run_id=workflow_run_id,
        settings=settings,
    )


def commit_lost_batch(
    run: RunRef,
    batch: int,
    *,
    attempts: int,
    root_workflow_run_id: str | None = None,
    settings: ScytheSettings | None = None,
) -> BatchOutcome:
    """Commit batch `batch` with every spec recorded as `WorkerLost`, running none of them.

    For a batch whose `attempts` attempts all started and ended without a commit record (its
    worker killed, out of memory, preempted each time): the run then ends and gathers like any
    other, with these specs in errors.pq instead of a run that waits forever for a batch that
    cannot finish. A record that exists after all (a late attempt committed) is kept.
    """
    from scythe.run.commits import read_outcome

    settings = settings or get_settings()
    store = settings.open_store(run.store)
    committed = read_outcome(store, run, batch)
    if committed is not None:
        return committed
    manifest = cached_manifest(store, run)
    message = (
        f"batch {batch} ran {attempts} times and never committed: its worker was lost each time "
        "(killed, out of memory, preempted) or the task itself failed; its specs were not run again"
    )
    error = {"error_type": "WorkerLost", "message": message, "traceback": "", "attempts": attempts}
    jobs = _jobs(store, run, manifest, batch, root_workflow_run_id)
    outcomes = {
        job.position: SpecOutcome(job.position, error={**job.index, **error}, attempts=attempts)
        for job in jobs
    }
    outcome = _write_shard(store, run, batch, _Rows(outcomes, jobs, batch))
    outcome.finished = timings.now()
    store.put_bytes(run.shard(batch, COMMIT), outcome.model_dump_json().encode())
    return outcome
