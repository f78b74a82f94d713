"""Talking to a Hatchet engine: the connection, task names, messages, triggers and queries.

Every message is small (a run reference and a batch range); the data stays in the store.
Connection failures surface as one-line `BackendError`s, never a gRPC traceback.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from scythe.backends.base import TaskCounts
from scythe.errors import BackendError, ScytheError
from scythe.run.layout import RunRef

if TYPE_CHECKING:
    from hatchet_sdk import Hatchet

SCATTER = "scythe_scatter"
GATHER = "scythe_gather"
RUN_METADATA = "scythe_run"
BULK_LIMIT = 1000
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
    root: bool = False  # the run's first task when the client triggers its batches: its id is the root
    gather_here: bool = False  # the batch completing the run gathers it (else a gather task does)


class GatherInput(BaseModel):
    run: RunRef


class RootRecord(BaseModel):
    """`scatter-gather/hatchet.json`: how to find a run's tasks in Hatchet."""

    root_workflow_run_id: str
    namespace: str | None = None


def batch_task_name(experiment_name: str) -> str:
    return f"scythe_batch_{experiment_name}".lower()


def metadata(run: RunRef) -> dict[str, str]:
    """The one tag every task of a run carries and every query of it filters on: the run's whole
    place, `s3://bucket/prefix/<experiment>/<version>/<run id>` (`RunRef.store` is the store's
    canonical URI). A run id is unique within its store only: tagged with the prefix alone, two
    stores' runs of one experiment version created in the same second were one run to Hatchet,
    so each one's status counted the other's tasks and `scythe cancel` cancelled both. One key,
    as the engine matches a task carrying any one of several filters' pairs."""
    return {RUN_METADATA: f"{run.store}/{run.prefix}"}


def connect() -> Hatchet:
    """A client configured from `HATCHET_CLIENT_*`; a clear error when nothing is configured."""
    if not os.environ.get("HATCHET_CLIENT_TOKEN"):
        raise BackendError(
            "the Hatchet backend needs HATCHET_CLIENT_TOKEN (and usually HATCHET_CLIENT_HOST_PORT, "
            'HATCHET_CLIENT_TLS_STRATEGY); for a local engine run `eval "$(scythe dev up)"`'
        )
    from hatchet_sdk import Hatchet
    from pydantic import ValidationError

    try:
        return Hatchet()
    except ValidationError as exc:  # a malformed token or address: the SDK validates its config
        problems = "; ".join(str(e["msg"]) for e in exc.errors())
        raise BackendError(f"the Hatchet client settings (HATCHET_CLIENT_*) are invalid: {problems}") from exc


@contextlib.contextmanager
def engine_call(what: str) -> Iterator[None]:
    """Any failure talking to the engine (refused connection, rejected token, gRPC status) as one
    `BackendError` line: the boundary where the SDK's many exception types meet the user."""
    try:
        yield
    except ScytheError:
        raise
    except Exception as exc:
        raise BackendError(f"the Hatchet engine could not {what}: {describe(exc)}") from exc


def describe(exc: BaseException) -> str:
    """One line for an SDK failure; a gRPC error by its status and details (its text is a
    multi-line repr whose first line says nothing)."""
    code, details = getattr(exc, "code", None), getattr(exc, "details", None)
    if callable(code) and callable(details):
        with contextlib.suppress(Exception):
            return f"{code().name}: {(str(details()).splitlines() or [''])[0]}"
    first = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first}"


def trigger_batches(
    hatchet: Hatchet, run: RunRef, batches: range | list[int], root_id: str = "", *, gather_here: bool = False
) -> None:
    """Bulk-trigger batch tasks of `run`, at most `BULK_LIMIT` per request. Only a run's first
    triggers gather where its last batch commits (`gather_here`); re-runs (resume, a lost trigger,
    damaged batches) complete through the gather task, as a claim may already be held."""
    stub = hatchet.stubs.task(name=batch_task_name(run.experiment), input_validator=BatchInput)
    items = [
        stub.create_bulk_run_item(
            BatchInput(run=run, batch=b, root_id=root_id, gather_here=gather_here),
            additional_metadata=metadata(run),
        )
        for b in batches
    ]
    for start in range(0, len(items), BULK_LIMIT):
        stub.run_many(items[start : start + BULK_LIMIT], wait_for_result=False)


def trigger_gather(hatchet: Hatchet, run: RunRef) -> None:
    stub = hatchet.stubs.task(name=GATHER, input_validator=GatherInput)
    stub.run(GatherInput(run=run), wait_for_result=False, additional_metadata=metadata(run))


def submit(hatchet: Hatchet, run: RunRef, n_batches: int, factor: int, max_depth: int) -> RootRecord:
    """Start the run; returns the record of its root task to keep in the store.

    A run of at most `factor` batches (every run of ≤ 1,000 batches by default) has its batches
    triggered here, batch 0 first and the rest naming it as their root; a larger one gets a root
    scatter task whose tree triggers them. A scatter task holds a worker slot while it triggers,
    and the engine hands that slot to a queued batch only at its next scheduling tick: on a
    2-slot worker the second batch started 1.4 s after the first (1,023 × 0.5 s specs in 2
    batches: 2 s of ideal)."""
    factor = max(2, factor)
    if n_batches <= factor:
        root_id = _trigger_root_batches(hatchet, run, n_batches)
    else:
        stub = hatchet.stubs.task(name=SCATTER, input_validator=ScatterInput)
        root = ScatterInput(run=run, lo=0, hi=n_batches, factor=factor, max_depth=max_depth)
        root_id = stub.run(root, wait_for_result=False, additional_metadata=metadata(run)).workflow_run_id
    return RootRecord(root_workflow_run_id=root_id, namespace=os.environ.get("HATCHET_CLIENT_NAMESPACE"))


def _trigger_root_batches(hatchet: Hatchet, run: RunRef, n_batches: int) -> str:
    """Batch 0, which takes its own workflow run id as the run's root, then the rest under it;
    returns that id."""
    stub = hatchet.stubs.task(name=batch_task_name(run.experiment), input_validator=BatchInput)
    first = stub.run(
        BatchInput(run=run, batch=0, root=True, gather_here=True),
        wait_for_result=False,
        additional_metadata=metadata(run),
    )
    trigger_batches(hatchet, run, range(1, n_batches), root_id=first.workflow_run_id, gather_here=True)
    return first.workflow_run_id


class RunTasks(BaseModel):
    """A run's tasks in Hatchet by kind and status: what the store cannot know (queued, running,
    given up). From the engine's status metrics, one SQL count per kind however many tasks."""

    batch: TaskCounts = Field(default_factory=TaskCounts)
    gather: TaskCounts = Field(default_factory=TaskCounts)
    scatter: TaskCounts = Field(default_factory=TaskCounts)

    def kinds(self) -> tuple[TaskCounts, ...]:
        return self.batch, self.gather, self.scatter

    def live(self) -> bool:
        """Whether any task of the run is waiting for a slot or running."""
        return any(c.queued or c.running for c in self.kinds())

    def batches_taken(self) -> bool:
        """Whether a worker has taken a batch task of the run (scatter and gather tasks are
        shared by every experiment, so a worker of another experiment may have run those)."""
        b = self.batch
        return bool(b.running or b.completed or b.failed or b.cancelled)

    def given_up(self) -> int:
        """Tasks Hatchet failed (no attempt left) or cancelled."""
        return sum(c.failed + c.cancelled for c in self.kinds())


_workflow_ids: dict[str, str] = {}  # namespaced name → id; an id never changes once created


def _workflow_id(hatchet: Hatchet, name: str) -> str | None:
    full = hatchet.config.apply_namespace(name)
    if full not in _workflow_ids:
        rows = hatchet.workflows.list(workflow_name=full).rows or []
        found = next((w.metadata.id for w in rows if w.name == full), None)
        if found is None:
            return None  # not registered yet: no task of it can exist
        _workflow_ids[full] = found
    return _workflow_ids[full]


def _metric_filters(run: RunRef) -> list[str]:
    return [f"{k}:{v}" for k, v in metadata(run).items()]


def run_tasks(hatchet: Hatchet, run: RunRef, since: datetime) -> RunTasks:
    """The run's scatter, batch and gather tasks by status (`since`: when the run was created)."""
    from hatchet_sdk.clients.rest.api.task_api import TaskApi

    found: dict[str, TaskCounts] = {}
    kinds = {"batch": batch_task_name(run.experiment), "gather": GATHER, "scatter": SCATTER}
    with hatchet.metrics.client() as api:
        for kind, name in kinds.items():
            workflow = _workflow_id(hatchet, name)
            if workflow is None:
                continue
            metrics = TaskApi(api).v1_task_list_status_metrics(
                tenant=hatchet.config.tenant_id,
                since=since - timedelta(minutes=5),
                workflow_ids=[workflow],
                additional_metadata=_metric_filters(run),
            )
            found[kind] = TaskCounts(**{m.status.value.lower(): m.count for m in metrics})
    return RunTasks(**found)


def last_failure(hatchet: Hatchet, run: RunRef, since: datetime) -> str:
    """The newest failed task of the run and the last line of its error (a traceback's exception)."""
    from hatchet_sdk.clients.rest.models.v1_task_status import V1TaskStatus

    rows = hatchet.runs.list(
        since=since - timedelta(minutes=5),
        only_tasks=True,
        limit=1,
        statuses=[V1TaskStatus.FAILED],
        additional_metadata=metadata(run),
        include_payloads=False,
    ).rows
    if not rows:
        return ""
    # A traceback ends with the exception's line, then the SDK appends a line of JSON metadata.
    lines = [ln.strip() for ln in (rows[0].error_message or "").splitlines()]
    said = [ln for ln in lines if ln and "__hatchet_error_metadata__" not in ln] or ["no error message"]
    return f"{rows[0].display_name}: {said[-1]}"


def running_batches(hatchet: Hatchet, run: RunRef, since: datetime) -> dict[str, int]:
    """The run's batch tasks Hatchet counts as running: task id → batch number (a few per worker)."""
    from hatchet_sdk.clients.rest.models.v1_task_status import V1TaskStatus

    workflow = _workflow_id(hatchet, batch_task_name(run.experiment))
    if workflow is None:
        return {}
    rows = hatchet.runs.list(
        since=since - timedelta(minutes=5),
        only_tasks=True,
        limit=BULK_LIMIT,
        statuses=[V1TaskStatus.RUNNING],
        workflow_ids=[workflow],
        additional_metadata=metadata(run),
    ).rows
    found = {}
    for row in rows:
        payload = row.input.get("input", row.input)  # the engine nests the task's input
        if isinstance(payload, dict) and isinstance(payload.get("batch"), int):
            found[row.metadata.id] = payload["batch"]
    return found


def cancel_tasks(hatchet: Hatchet, ids: list[str]) -> None:
    from hatchet_sdk.features.runs import BulkCancelReplayOpts

    hatchet.runs.bulk_cancel(BulkCancelReplayOpts(ids=ids))


def cancel(hatchet: Hatchet, run: RunRef, since: datetime) -> None:
    """Cancel every task of `run` that has not finished (finished batches stay in the store)."""
    from hatchet_sdk.features.runs import BulkCancelReplayOpts, RunFilter

    window = RunFilter(since=since - timedelta(minutes=5), additional_metadata=metadata(run))
    hatchet.runs.bulk_cancel(BulkCancelReplayOpts(filters=window))
