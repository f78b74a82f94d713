"""Commit records: what each batch produced, and which batches of a run are done.

A batch counts only once its commit record (`_SUCCESS.json`, written last) exists, so the set of
records *is* the run's progress: `resume` runs the batches without one, `status` counts them,
gather reads them. On an object store the record also carries the batch's small shards itself
(`BatchOutcome.inline`), so a batch costs one PUT to commit and one GET to gather, not one per
file. Light on purpose (pydantic only): `scythe status` imports no pyarrow.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from scythe.errors import StoreError
from scythe.run.layout import COMMIT, FINAL_SUMMARY, RESULTS, RunRef
from scythe.run.manifest import Manifest
from scythe.store import Store


class FrameShard(BaseModel):
    file: str
    index: list[str]


class BatchOutcome(BaseModel):
    """The commit record of one batch: what it produced; read by gather and resume.

    Each shard file it names (`scalars`, `timings`, …) is a file beside it, or, when it is one of
    `inline`'s keys, that value's Parquet bytes (base64 in the JSON): the store's `inline_bytes`
    decides which. Whole either way: the record is one PUT, written last.
    """

    model_config = ConfigDict(ser_json_bytes="base64", val_json_bytes="base64")

    batch: int
    succeeded: int
    failed: int
    scalars: str | None = None
    file_refs: str | None = None
    errors: str | None = None
    frames: dict[str, FrameShard] = Field(default_factory=dict)
    seconds: float = 0.0  # the batch's wall time in its task
    spec_seconds: float = 0.0  # its specs' own time, summed (no process start, no store I/O)
    timings: str | None = None  # its specs' timings shard (`scythe.run.timings`)
    started: datetime | None = None  # when its task started, and committed (UTC)
    finished: datetime | None = None
    inline: dict[str, bytes] = Field(default_factory=dict, description="shard file name → its bytes")


class GatherSummary(BaseModel):
    """What a gather wrote: counts, and the URI of each final table."""

    succeeded: int
    failed: int
    files: dict[str, str] = Field(description="final table name → URI")
    spec_seconds: float | None = Field(
        default=None, description="median of its batches' seconds a spec: how later runs size batches"
    )
    started: datetime | None = Field(default=None, description="when allocation started (UTC)")
    finished: datetime | None = Field(default=None, description="when the last batch committed (UTC)")
    wall_seconds: float | None = Field(default=None, description="finished - started")
    specs_per_second: float | None = Field(default=None, description="executed specs ÷ wall_seconds")
    backend: str | None = None
    workers: list[str] | None = Field(default=None, description="`<host>:<pid>` of every spec process")
    reused: int | None = Field(default=None, description="rows copied from earlier runs (in succeeded)")


def read_outcome(store: Store, run: RunRef, batch: int) -> BatchOutcome | None:
    """The batch's commit record, or None if it has none or it is unreadable (one GET: no HEAD first).

    A damaged record counts as absent, so the batch is simply run again; gather, which must tell
    the two apart, uses `parse_outcome` on the bytes itself.
    """
    try:
        data = store.get_bytes(run.shard(batch, COMMIT))
    except StoreError:
        return None
    return parse_outcome(data, batch)


def parse_outcome(data: bytes, batch: int) -> BatchOutcome | None:
    """`data` as batch `batch`'s commit record; None if empty, truncated, invalid or another batch's."""
    try:
        outcome = BatchOutcome.model_validate_json(data)
    except ValidationError:
        return None
    return outcome if outcome.batch == batch else None


def missing_batches(store: Store, run: RunRef, manifest: Manifest) -> list[int]:
    """Batches with no commit record: never run, still running, or lost to a crash."""
    done = {k.rsplit("/", 2)[-2] for k in store.list_keys(run.key(RESULTS)) if k.endswith(COMMIT)}
    return [b for b in range(manifest.n_batches) if f"{b:06d}" not in done]


class RunProgress(BaseModel):
    """A run's progress as the store records it (the source of truth on every backend)."""

    batches_done: int
    specs_done: int
    gathered: bool


def store_progress(store: Store, run: RunRef, manifest: Manifest) -> RunProgress:
    """What the store says of a run: committed batches and specs, and whether it was gathered."""
    missing = set(missing_batches(store, run, manifest))
    done = [b for b in range(manifest.n_batches) if b not in missing]
    return RunProgress(
        batches_done=len(done),
        specs_done=sum(len(manifest.batch_range(b)) for b in done),
        gathered=store.exists(run.key(FINAL_SUMMARY)),
    )
