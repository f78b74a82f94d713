"""Talking to a Hatchet engine: the connection, task names, messages, triggers and queries.

Every message is small (a run reference and a batch range); the data stays in the store.
Connection failures surface as one-line `BackendError`s, never a gRPC traceback.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

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


class GatherInput(BaseModel):
    run: RunRef


class RootRecord(BaseModel):
    """`scatter-gather/hatchet.json`: how to find a run's tasks in Hatchet."""

    root_workflow_run_id: str
    namespace: str | None = None


def batch_task_name(experiment_name: str) -> str:
    return f"scythe_batch_{experiment_name}".lower()


def metadata(run: RunRef) -> dict[str, str]:
    return {RUN_METADATA: run.prefix}


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
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise BackendError(f"the Hatchet engine could not {what}: {type(exc).__name__}: {first}") from exc


def trigger_batches(hatchet: Hatchet, run: RunRef, batches: range | list[int], root_id: str = "") -> None:
    """Bulk-trigger batch tasks of `run`, at most `BULK_LIMIT` per request."""
    stub = hatchet.stubs.task(name=batch_task_name(run.experiment), input_validator=BatchInput)
    items = [
        stub.create_bulk_run_item(
            BatchInput(run=run, batch=b, root_id=root_id), additional_metadata=metadata(run)
        )
        for b in batches
    ]
    for start in range(0, len(items), BULK_LIMIT):
        stub.run_many(items[start : start + BULK_LIMIT], wait_for_result=False)


def trigger_gather(hatchet: Hatchet, run: RunRef) -> None:
    stub = hatchet.stubs.task(name=GATHER, input_validator=GatherInput)
    stub.run(GatherInput(run=run), wait_for_result=False, additional_metadata=metadata(run))


def submit(hatchet: Hatchet, run: RunRef, n_batches: int, factor: int, max_depth: int) -> RootRecord:
    """Trigger the run's root scatter task; returns the record of it to keep in the store."""
    stub = hatchet.stubs.task(name=SCATTER, input_validator=ScatterInput)
    root = ScatterInput(run=run, lo=0, hi=n_batches, factor=max(2, factor), max_depth=max_depth)
    ref = stub.run(root, wait_for_result=False, additional_metadata=metadata(run))
    return RootRecord(
        root_workflow_run_id=ref.workflow_run_id, namespace=os.environ.get("HATCHET_CLIENT_NAMESPACE")
    )


def missing_registrations(hatchet: Hatchet, experiment: str) -> list[str]:
    """The run's task names no worker has registered yet (the engine would drop such a run)."""
    missing = []
    for name in (SCATTER, GATHER, batch_task_name(experiment)):
        full = hatchet.config.apply_namespace(name)
        rows = hatchet.workflows.list(workflow_name=full).rows or []
        if not any(w.name == full for w in rows):
            missing.append(full)
    return missing


def task_counts(hatchet: Hatchet, run: RunRef, since: datetime) -> TaskCounts:
    """Batch tasks of `run` by status (scatter and gather tasks are not counted)."""
    rows = hatchet.runs.list_with_pagination(
        since=since - timedelta(minutes=5),
        only_tasks=True,
        additional_metadata=metadata(run),
        include_payloads=False,
    )
    counts: dict[str, Any] = {}
    name = batch_task_name(run.experiment)
    for row in rows:
        if name in row.display_name.lower():
            key = row.status.value.lower()
            counts[key] = counts.get(key, 0) + 1
    return TaskCounts(**counts)


def cancel(hatchet: Hatchet, run: RunRef, since: datetime) -> None:
    """Cancel every task of `run` that has not finished (finished batches stay in the store)."""
    from hatchet_sdk.features.runs import BulkCancelReplayOpts, RunFilter

    window = RunFilter(since=since - timedelta(minutes=5), additional_metadata=metadata(run))
    hatchet.runs.bulk_cancel(BulkCancelReplayOpts(filters=window))
