"""The Hatchet backend: the same batches as the embedded default, fanned out over a Hatchet engine.

Shape of a run (all messages are small: a run reference and a range of batch numbers; the data
stays in the store):

    scythe_scatter [0, n)          root, triggered once per run by `allocate`
      ├─ scythe_scatter [lo, hi)   `factor` children per node, at most `max_depth` levels
      │    └─ scythe_batch_<exp>   bulk-triggered, ≤ 1,000 per request; runs `run_batch`
      └─ …
    scythe_gather                  triggered by whichever batch commits last; writes final/*.pq

No task waits on another, so no worker slot is ever held by a parent waiting for its children,
and a crashed worker costs only its in-flight batches (Hatchet retries them; a re-run batch
overwrites its shard, so every spec lands in the results exactly once).
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import TYPE_CHECKING, Any

# The SDK resolves task functions' annotations at run time, so these are real imports.
from hatchet_sdk import ConcurrencyExpression, ConcurrencyLimitStrategy, Context, Hatchet
from pydantic import BaseModel, Field

from scythe.errors import ScytheError
from scythe.registry import Experiment
from scythe.run.layout import RunRef

if TYPE_CHECKING:
    from hatchet_sdk.runnables.workflow import BaseWorkflow, Standalone

SCATTER = "scythe_scatter"
GATHER = "scythe_gather"
RUN_METADATA = "scythe_run"
BULK_LIMIT = 1000
GATHERED = "scatter-gather/gathered.json"
ROOT = "scatter-gather/hatchet.json"
INFRA_RETRIES = 3


class ScatterInput(BaseModel):
    run: RunRef
    lo: int = Field(ge=0)
    hi: int = Field(ge=0)
    factor: int = Field(ge=2)
    max_depth: int = Field(ge=0)
    depth: int = 0
    root_id: str = ""


class BatchInput(BaseModel):
    run: RunRef
    batch: int = Field(ge=0)
    root_id: str = ""


class GatherInput(BaseModel):
    run: RunRef


# Batches that commit together may each see the run complete and trigger a gather: the engine
# queues the extras behind the first, and they then find its summary and return at once.
ONE_GATHER_PER_RUN = ConcurrencyExpression(
    expression=" + '/' + ".join(f"input.run.{part}" for part in ("store", "experiment", "version", "run_id")),
    max_runs=1,
    limit_strategy=ConcurrencyLimitStrategy.GROUP_ROUND_ROBIN,
)


class RootRecord(BaseModel):
    """`scatter-gather/hatchet.json`: how to find a run's tasks in Hatchet."""

    root_workflow_run_id: str
    namespace: str | None = None


def batch_task_name(experiment_name: str) -> str:
    return f"scythe_batch_{experiment_name}".lower()


def connect() -> Hatchet:
    """A client configured from `HATCHET_CLIENT_*`; a clear error when nothing is configured."""
    if not os.environ.get("HATCHET_CLIENT_TOKEN"):
        raise ScytheError(
            "the Hatchet backend needs HATCHET_CLIENT_TOKEN (and usually HATCHET_CLIENT_HOST_PORT, "
            'HATCHET_CLIENT_TLS_STRATEGY); for a local engine run `eval "$(scythe dev up)"`'
        )
    return Hatchet()


def metadata(run: RunRef) -> dict[str, str]:
    return {RUN_METADATA: run.prefix}


def _children(item: ScatterInput) -> list[ScatterInput]:
    span = item.hi - item.lo
    step = -(-span // item.factor)
    return [
        item.model_copy(update={"lo": lo, "hi": min(lo + step, item.hi), "depth": item.depth + 1})
        for lo in range(item.lo, item.hi, step)
    ]


def is_leaf(item: ScatterInput) -> bool:
    return item.hi - item.lo <= item.factor or item.depth >= item.max_depth


def define_tasks(hatchet: Hatchet, experiments: list[Experiment[Any, Any]]) -> list[BaseWorkflow[Any]]:
    """The tasks a worker serves: scatter, gather, and one batch task per experiment."""
    scatter_stub = hatchet.stubs.task(name=SCATTER, input_validator=ScatterInput)
    gather_stub = hatchet.stubs.task(name=GATHER, input_validator=GatherInput)

    def trigger_batches(item: ScatterInput) -> None:
        stub = hatchet.stubs.task(name=batch_task_name(item.run.experiment), input_validator=BatchInput)
        items = [
            stub.create_bulk_run_item(
                BatchInput(run=item.run, batch=b, root_id=item.root_id),
                additional_metadata=metadata(item.run),
            )
            for b in range(item.lo, item.hi)
        ]
        for start in range(0, len(items), BULK_LIMIT):
            stub.run_many(items[start : start + BULK_LIMIT], wait_for_result=False)

    def scatter(item: ScatterInput, ctx: Context) -> dict[str, int]:
        if item.depth == 0 and not item.root_id:
            item = item.model_copy(update={"root_id": ctx.workflow_run_id})
        if is_leaf(item):
            trigger_batches(item)
            return {"batches": item.hi - item.lo}
        children = [
            scatter_stub.create_bulk_run_item(child, additional_metadata=metadata(item.run))
            for child in _children(item)
        ]
        scatter_stub.run_many(children, wait_for_result=False)
        return {"children": len(children)}

    def gather_task(item: GatherInput, ctx: Context) -> dict[str, Any]:
        return gather_run(item.run)

    tasks: list[BaseWorkflow[Any]] = [
        hatchet.task(
            name=SCATTER,
            input_validator=ScatterInput,
            execution_timeout=timedelta(minutes=30),
            schedule_timeout=timedelta(days=1),
            retries=INFRA_RETRIES,
        )(scatter),
        hatchet.task(
            name=GATHER,
            input_validator=GatherInput,
            execution_timeout=timedelta(hours=2),
            schedule_timeout=timedelta(days=1),
            retries=INFRA_RETRIES,
            concurrency=ONE_GATHER_PER_RUN,
        )(gather_task),
    ]
    for experiment in experiments:
        tasks.append(_batch_task(hatchet, experiment, gather_stub))
    return tasks


def _batch_task(hatchet: Hatchet, experiment: Experiment[Any, Any], gather_stub: Any) -> Standalone[Any, Any]:
    options = experiment.options
    batch_size = options.batch_size or 1000

    def run_one_batch(item: BatchInput, ctx: Context) -> dict[str, Any]:
        from scythe.run.task import run_batch

        outcome = run_batch(
            item.run,
            item.batch,
            root_workflow_run_id=item.root_id or None,
            workflow_run_id=ctx.workflow_run_id,
        )
        if all_committed(item.run, item.batch):
            gather_stub.run(
                GatherInput(run=item.run), wait_for_result=False, additional_metadata=metadata(item.run)
            )
        return {"batch": outcome.batch, "succeeded": outcome.succeeded, "failed": outcome.failed}

    return hatchet.task(
        name=batch_task_name(experiment.name),
        input_validator=BatchInput,
        execution_timeout=timedelta(seconds=options.timeout * batch_size * (options.retries + 1) + 60),
        schedule_timeout=timedelta(seconds=options.schedule_timeout),
        retries=INFRA_RETRIES,
        concurrency=options.concurrency,
    )(run_one_batch)


def all_committed(run: RunRef, batch: int) -> bool:
    """Whether `batch`'s commit completed the run; the batch that commits last always sees it.

    A LIST of every commit record costs as much CPU as a whole batch of no-op specs, so it is
    done only once the last-triggered batch (Hatchet hands batches out roughly in order) has
    committed: earlier batches stop at that one HEAD.
    """
    from scythe.run.gather import missing_batches
    from scythe.run.layout import COMMIT
    from scythe.run.task import cached_manifest
    from scythe.settings import get_settings
    from scythe.store import open_store

    store = open_store(run.store, get_settings().s3_endpoint_url)
    manifest = cached_manifest(store, run)
    probe = manifest.n_batches - 1 if batch != manifest.n_batches - 1 else manifest.n_batches - 2
    if probe >= 0 and not store.exists(run.shard(probe, COMMIT)):
        return False
    return not missing_batches(store, run, manifest)


def gather_run(run: RunRef) -> dict[str, Any]:
    """Gather once: a second trigger (two batches finishing together) finds the work done."""
    from scythe.registry import load_experiment
    from scythe.run.gather import GatherSummary, gather
    from scythe.run.manifest import read_manifest
    from scythe.settings import get_settings
    from scythe.store import open_store

    store = open_store(run.store, get_settings().s3_endpoint_url)
    if store.exists(run.key(GATHERED)):
        return GatherSummary.model_validate_json(store.get_bytes(run.key(GATHERED))).model_dump()
    manifest = read_manifest(store, run)
    experiment = load_experiment(manifest.experiment_ref)
    summary = gather(store, run, manifest, experiment.input_spec.index_fields())
    store.put_bytes(run.key(GATHERED), summary.model_dump_json().encode())
    return summary.model_dump()


def submit(run: RunRef, n_batches: int, factor: int, max_depth: int) -> str:
    """Trigger the run's root scatter task; returns its workflow run id (recorded in the store)."""
    from scythe.settings import get_settings
    from scythe.store import open_store

    hatchet = connect()
    stub = hatchet.stubs.task(name=SCATTER, input_validator=ScatterInput)
    root = ScatterInput(run=run, lo=0, hi=n_batches, factor=max(2, factor), max_depth=max_depth)
    ref = stub.run(root, wait_for_result=False, additional_metadata=metadata(run))
    record = RootRecord(
        root_workflow_run_id=ref.workflow_run_id, namespace=os.environ.get("HATCHET_CLIENT_NAMESPACE")
    )
    store = open_store(run.store, get_settings().s3_endpoint_url)
    store.put_bytes(run.key(ROOT), record.model_dump_json().encode())
    return ref.workflow_run_id


def require_workers(experiment: str) -> None:
    """Refuse to submit before any worker has registered the run's tasks (the engine would drop it)."""
    hatchet = connect()
    for name in (SCATTER, GATHER, batch_task_name(experiment)):
        full = hatchet.config.apply_namespace(name)
        rows = hatchet.workflows.list(workflow_name=full).rows or []
        if not any(w.name == full for w in rows):
            raise ScytheError(
                f"no worker has registered {full!r} with Hatchet yet: start one first "
                f"(`scythe worker` in the experiment's project) and run again"
            )


def trigger_batches(run: RunRef, batches: list[int]) -> None:
    """Re-trigger specific batches (for `resume` of a Hatchet run)."""
    hatchet = connect()
    stub = hatchet.stubs.task(name=batch_task_name(run.experiment), input_validator=BatchInput)
    items = [
        stub.create_bulk_run_item(BatchInput(run=run, batch=b), additional_metadata=metadata(run))
        for b in batches
    ]
    for start in range(0, len(items), BULK_LIMIT):
        stub.run_many(items[start : start + BULK_LIMIT], wait_for_result=False)


def trigger_gather(run: RunRef) -> None:
    stub = connect().stubs.task(name=GATHER, input_validator=GatherInput)
    stub.run(GatherInput(run=run), wait_for_result=False, additional_metadata=metadata(run))


class TaskCounts(BaseModel):
    """Hatchet's view of a run's tasks, by status."""

    queued: int = 0
    running: int = 0
    completed: int = 0
    failed: int = 0
    cancelled: int = 0


def task_counts(run: RunRef, since: Any) -> TaskCounts:
    """Batch tasks of `run` by status (scatter and gather tasks are not counted)."""
    from datetime import timedelta as _td

    hatchet = connect()
    rows = hatchet.runs.list_with_pagination(
        since=since - _td(minutes=5),
        only_tasks=True,
        additional_metadata=metadata(run),
        include_payloads=False,
    )
    counts = TaskCounts()
    name = batch_task_name(run.experiment)
    for row in rows:
        if name in row.display_name.lower():
            key = row.status.value.lower()
            setattr(counts, key, getattr(counts, key) + 1)
    return counts


def cancel(run: RunRef, since: Any) -> None:
    """Cancel every task of `run` that has not finished (finished batches stay in the store)."""
    from datetime import timedelta as _td

    from hatchet_sdk.features.runs import BulkCancelReplayOpts, RunFilter

    window = RunFilter(since=since - _td(minutes=5), additional_metadata=metadata(run))
    connect().runs.bulk_cancel(BulkCancelReplayOpts(filters=window))


def start_worker(experiments: list[Experiment[Any, Any]], *, name: str, slots: int) -> None:
    """Serve `experiments` until interrupted (blocks)."""
    hatchet = connect()
    _warm_up()
    worker = hatchet.worker(name, slots=slots, workflows=define_tasks(hatchet, experiments))
    worker.start()


def _warm_up() -> None:
    """Import what a batch needs (pandas, pyarrow, boto3: ~2 s) before taking the first task,
    not inside it while every slot's thread waits on the import lock."""
    import importlib

    from scythe.settings import get_settings
    from scythe.store import open_store

    for module in ("scythe.run.task", "scythe.run.gather"):
        importlib.import_module(module)
    settings = get_settings()
    open_store(settings.store_uri(), settings.s3_endpoint_url)
