"""How many specs a batch holds: enough batches to keep every slot busy, each worth its task.

A batch is the unit a backend schedules, retries and commits. Too few and slots sit idle (64
batches of 157 minutes on 200 slots: 136 slots never used, a lost worker costs 2.6 hours); too many
and the per-task cost dominates (1,023 one-spec tasks of 0.5 s on Hatchet: 530 s for 2 s of work).

With `s` slots, a per-batch cost `o` (the backend's dispatch and commit) and equal batches in
`k` full waves of `s` batches, the wall time is `ideal + k·o` (`ideal` = Σ spec seconds ÷ s), so:

- waves: 4 when the batches stay worth it (variance between specs and a lost worker then cost
  about a quarter of a batch), fewer when `k·o` would exceed 5 % of the ideal time, 1 at least;
- no batch longer than `MAX_BATCH_SECONDS` (what a lost worker may cost), none over `MAX_BATCH`
  specs (a shard's memory and the final gather stay bounded: 10^6 specs are ≥ 1,000 batches);
- the batch count is a multiple of `s` (full waves), so the last wave has no idle slots.

Spec seconds come from the experiment's latest gathered run in the same store (gather records
the median); without them, 4 waves when that leaves ≥ 4 specs a batch, else one wave of one
batch per slot (so 1,023 unknown specs on 256 slots are 256 tasks, not 1,023).

A slot may run several specs of its batch at once (`spread`: a Hatchet worker started with more
spec processes than slots spreads each batch over the processes no other batch holds), so a
slot counts as `spread` lanes: a batch of `m` specs takes `m ÷ spread` spec times. That is how
few, large batches keep many processes busy: upstream's shape (1,023 × 0.5 s on 256 processes)
on one worker of 2 slots is 2 batches of 512 specs, not 256 tasks whose per-batch work (S3,
Parquet, the SDK: ~80 ms each, in the worker's one process) would take 20 s of a 2 s ideal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pydantic import ValidationError

from scythe.errors import StoreError
from scythe.run.commits import GatherSummary
from scythe.run.layout import FINAL_SUMMARY, RunRef
from scythe.store import Store

MAX_BATCH = 1000
MAX_BATCH_SECONDS = 600.0
WAVES = 4
OVERHEAD_SHARE = 0.05  # of the ideal time, that per-batch costs may take
MIN_UNKNOWN_BATCH = 4  # specs a batch, when their duration is unknown, before waves give way
FALLBACK_SLOTS = 64  # slots assumed when the backend cannot tell (no worker has registered yet)
LOOKBACK = 20  # newest runs of the experiment looked at for a recorded spec time


@dataclass(frozen=True)
class Capacity:
    """What a backend can run at once for an experiment: batches (`slots`), and specs of one batch
    per slot (`spread`: 1 unless a slot has several spec processes to spread its batch over)."""

    slots: int
    spread: int = 1


@dataclass(frozen=True)
class BatchPlan:
    """The batch size chosen for a run, and why (shown by `scythe run`)."""

    size: int
    n_batches: int
    why: str


def plan(
    n_specs: int,
    *,
    slots: int | None,
    spec_seconds: float | None,
    batch_overhead: float,
    spread: int = 1,
) -> BatchPlan:
    """The batch size for `n_specs` on `slots` (None: unknown), given seconds a spec (None: unknown),
    the backend's seconds of overhead per batch, and the specs a slot runs at once (`spread`)."""
    s = slots or FALLBACK_SLOTS
    w = max(1, spread)
    where = f"{s} slots" if slots else f"{s} slots assumed (none reported yet)"
    if w > 1:
        where += f" × {w} processes"
    if spec_seconds and spec_seconds > 0:
        ideal = n_specs * spec_seconds / (s * w)
        waves = max(1, min(WAVES, math.floor(OVERHEAD_SHARE * ideal / batch_overhead)))
        longest = max(1, math.floor(MAX_BATCH_SECONDS / spec_seconds)) * w
        size = min(math.ceil(n_specs / (s * waves)), longest)
        basis = f"~{_seconds(spec_seconds)} a spec"
    else:
        size = math.ceil(n_specs / (s * WAVES))
        if size < MIN_UNKNOWN_BATCH * w:
            size = math.ceil(n_specs / s)
        basis = "spec time unknown"
    size = _full_waves(n_specs, max(1, min(size, MAX_BATCH)), s)
    n_batches = math.ceil(n_specs / size)
    return BatchPlan(size=size, n_batches=n_batches, why=f"{where}, {basis}")


def _full_waves(n_specs: int, size: int, slots: int) -> int:
    """`size`, evened out so the batches fill whole waves of `slots` (when there is more than one)."""
    batches = math.ceil(n_specs / size)
    if batches <= slots:
        return size
    waves = math.ceil(batches / slots)
    return max(1, math.ceil(n_specs / (waves * slots)))


def _seconds(value: float) -> str:
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.1f} s"


def recorded_spec_seconds(store: Store, experiment: str) -> float | None:
    """Seconds a spec in the experiment's latest gathered run in `store` (any version), or None.

    Run ids sort by time, so this is a listing per version and one GET per run looked at, newest
    first, until a gathered one is found.
    """
    runs = [
        RunRef(store=store.uri, experiment=experiment, version=version, run_id=run_id)
        for version in store.children(experiment)
        for run_id in store.children(f"{experiment}/{version}")
    ]
    for run in sorted(runs, key=lambda r: r.run_id, reverse=True)[:LOOKBACK]:
        try:
            summary = GatherSummary.model_validate_json(store.get_bytes(run.key(FINAL_SUMMARY)))
        except (StoreError, ValidationError):
            continue
        if summary.spec_seconds:
            return summary.spec_seconds
    return None
