"""The `Backend` protocol: how a stored run gets executed, watched, stopped and resumed.

A backend never validates or writes a run (allocation did, before it was chosen) and never
decides what is done (commit records in the store do): it only makes batches run somewhere.
Allocation, `resume`, `status` and `cancel` call these methods and never branch on a name.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from scythe.registry import Experiment
    from scythe.run.batching import Capacity
    from scythe.run.commits import GatherSummary
    from scythe.run.layout import RunRef
    from scythe.run.manifest import Manifest
    from scythe.store import Store


class RecursionMap(BaseModel):
    """The shape of a fan-out tree: `factor` children per node, at most `max_depth` levels of
    splitting below the root (scythe-engine's name). Backends without a tree accept and ignore it."""

    factor: int = Field(default=10, ge=1, description="Children per scatter node.")
    max_depth: int = Field(default=10, ge=0, le=10, description="Levels of splitting below the root.")


def default_slots() -> int:
    """Tasks a worker runs at once when nothing says: every CPU, leaving one free from 8 up."""
    cpus = os.cpu_count() or 1
    return cpus if cpus < 8 else cpus - 1


class TaskCounts(BaseModel):
    """A backend's view of a run's batch tasks, by status."""

    queued: int = 0
    running: int = 0
    completed: int = 0
    failed: int = 0
    cancelled: int = 0


class Backend(Protocol):
    """Where a run's batches execute."""

    name: ClassVar[str]
    detaches: ClassVar[bool]  # whether `submit` alone makes progress (so `--no-wait` makes sense)
    batch_overhead: ClassVar[float]  # seconds a batch costs beyond its specs (dispatch, commit)

    def capacity(self, experiment: Experiment[Any, Any]) -> Capacity | None:
        """Batches (and specs of each) that can run at once for `experiment` now; None if unknown."""

    def check(self, experiment: Experiment[Any, Any]) -> None:
        """Refuse, before anything is written, a run this backend could not execute."""

    def submit(self, store: Store, run: RunRef, manifest: Manifest, shape: RecursionMap | None) -> None:
        """Start every batch of a freshly written run."""

    def resume(self, store: Store, run: RunRef, manifest: Manifest) -> None:
        """Start only the batches without a commit record (or the gather, if none is missing)."""

    def wait(self, store: Store, run: RunRef, manifest: Manifest, *, progress: bool) -> GatherSummary:
        """Block until the run is gathered, showing progress; its summary."""

    def status(self, run: RunRef, manifest: Manifest) -> TaskCounts | None:
        """What the backend knows beyond the store (queued, running, failed tasks), if anything."""

    def cancel(self, run: RunRef, manifest: Manifest) -> None:
        """Stop the run's unfinished tasks; committed batches stay and `resume` carries on."""
