"""How long each spec took, where it ran, and the run's summary: `final/timings.pq` and the
timing fields of `final/summary.json`.

Kept apart from the researcher's outputs on purpose: scalars.pq holds what the experiment
computed; timings.pq (one row per spec: succeeded, failed and reused) holds how the run went.
Its index is the bookkeeping levels only (`experiment_id, sort_index, root_workflow_run_id`),
which join it to every other table: with the design's fields as levels too, an input named like
a timing column (`seconds`, `batch`, `status`…) made the gather fail on duplicate field names.
Every value comes from commit records and shards, never from the clock at gather time, so
gathering twice gives the same bytes.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa

if TYPE_CHECKING:
    from scythe.run.commits import BatchOutcome
    from scythe.run.execute import SpecOutcome
    from scythe.run.manifest import Manifest

OK, FAILED, REUSED = "ok", "failed", "reused"
INDEX = ("experiment_id", "sort_index", "root_workflow_run_id")  # = ExperimentInputSpec.index_bookkeeping
UTC_MICROS = pa.timestamp("us", tz="UTC")
#: The columns after the index, in this order, in every shard and in final/timings.pq.
COLUMNS = pa.schema(
    [
        ("seconds", pa.float64()),
        ("attempts", pa.int64()),
        ("batch", pa.int64()),
        ("started", UTC_MICROS),
        ("finished", UTC_MICROS),
        ("worker", pa.string()),
        ("status", pa.string()),
        ("reused_from", pa.string()),
    ]
)


def worker_id(pid: int | None = None) -> str:
    """`<hostname>:<pid>`: which process ran a spec (the spec process, on every backend)."""
    return f"{socket.gethostname()}:{pid or os.getpid()}"


def spec_row(outcome: SpecOutcome, batch: int) -> dict[str, Any]:
    """One executed spec's timing columns (a spec lost with its process has what the task saw)."""
    return {
        "seconds": round(outcome.seconds, 6),
        "attempts": outcome.attempts or int((outcome.error or {}).get("attempts", 1)),
        "batch": batch,
        "started": _micros(outcome.started),
        "finished": _micros(outcome.finished),
        "worker": outcome.worker,
        "status": FAILED if outcome.error is not None else OK,
        "reused_from": None,
    }


def _micros(epoch: float | None) -> int | None:
    return None if epoch is None else round(epoch * 1_000_000)


def timing_table(index: list[dict[str, Any]] | pa.Table, rows: list[dict[str, Any]]) -> pa.Table:
    """The index columns (as the other shards infer them) and then `COLUMNS`, typed explicitly so
    every shard (a reused one's nulls included) has the same schema."""
    rows_index = (
        [{k: v for k, v in row.items() if k in INDEX} for row in index] if isinstance(index, list) else []
    )
    table = index if isinstance(index, pa.Table) else pa.Table.from_pylist(rows_index)
    table = table.select([name for name in INDEX if name in table.column_names])
    for field in COLUMNS:
        table = table.append_column(field, pa.array([r[field.name] for r in rows], field.type))
    return table


def timing_columns(index: pa.Table, columns: dict[str, pa.Array]) -> pa.Table:
    """`index` and then `COLUMNS`, from whole columns (nulls for those not given): for 10^6
    reused rows, no Python row is built."""
    table = index.select([name for name in INDEX if name in index.column_names])
    for field in COLUMNS:
        given = columns.get(field.name)
        table = table.append_column(
            field, given.cast(field.type) if given is not None else pa.nulls(len(index), field.type)
        )
    return table


def now() -> datetime:
    return datetime.now(UTC)


def summary_fields(
    manifest: Manifest, outcomes: Sequence[BatchOutcome], reused: int, workers: list[str]
) -> dict[str, Any]:
    """The run's timing fields of summary.json: started at allocation, finished when its last
    batch committed (so a second gather writes the same bytes); specs/s counts executed specs."""
    ends = [o.finished for o in outcomes if o.finished is not None]
    started = manifest.created_at
    finished = max(ends) if ends else None
    wall = (finished - started).total_seconds() if finished is not None else None
    executed = sum(o.succeeded + o.failed for o in outcomes)
    return {
        "started": started,
        "finished": finished,
        "wall_seconds": round(wall, 6) if wall is not None else None,
        "specs_per_second": round(executed / wall, 6) if wall and executed else None,
        "backend": manifest.backend,
        "workers": workers,
        "reused": reused,
    }
