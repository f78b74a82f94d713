"""The Hatchet backend: the same batches as the embedded default, fanned out over a Hatchet engine.

`client` talks to the engine (names, messages, triggers, queries), `tasks` holds what a worker
serves (scatter tree → batch tasks → gather; see its docstring for the shape), `monitor` waits
for a run, `worker` starts a worker process. This module is the `Backend` the runtime calls.
Importing it imports hatchet_sdk, so nothing imports it unless the Hatchet backend is chosen.
"""

from __future__ import annotations

from typing import Any, ClassVar

from hatchet_sdk import Hatchet

from scythe.backends.base import RecursionMap, TaskCounts
from scythe.backends.hatchet import client
from scythe.backends.hatchet.monitor import queue_counts, wait_for_gather
from scythe.registry import Experiment
from scythe.run.batching import Capacity
from scythe.run.commits import GatherSummary, missing_batches, store_progress
from scythe.run.layout import HATCHET_ROOT, RunRef
from scythe.run.manifest import Manifest
from scythe.settings import ScytheSettings
from scythe.store import Store

DEFAULT_SHAPE = RecursionMap(factor=client.BULK_LIMIT, max_depth=3)  # one level of ≤ 1,000 batches


class HatchetBackend:
    """Batches run as Hatchet tasks on whatever workers serve the experiment."""

    name: ClassVar[str] = "hatchet"
    detaches: ClassVar[bool] = True
    batch_overhead: ClassVar[float] = 0.25  # dispatch, the task's S3 reads and writes, its commit

    def __init__(self, settings: ScytheSettings) -> None:
        self.settings = settings
        self._engine: Hatchet | None = None

    @property
    def engine(self) -> Hatchet:
        if self._engine is None:
            self._engine = client.connect()
        return self._engine

    def capacity(self, experiment: Experiment[Any, Any]) -> Capacity | None:
        """The slots and spec processes of the workers serving it now (None before any has
        registered: a queued run)."""
        from scythe.backends.hatchet.capacity import serving_capacity

        with client.engine_call("list the workers"):
            return serving_capacity(self.engine, experiment.name)

    def check(self, experiment: Experiment[Any, Any]) -> None:
        """Register the run's tasks with the engine (as a worker would on start), before anything is
        written: the engine then queues the run until a worker serves them, however late it
        starts (each batch waits up to the experiment's `schedule_timeout`, a day by default),
        and an unreachable engine or a rejected token is one line before any work.

        The definitions are the worker's own (`define_tasks`), so the engine, which keeps a new
        version only when a definition's checksum changes, sees the same version from both.
        """
        from scythe.backends.hatchet.tasks import define_tasks

        admin = self.engine._client.admin  # no public handle: the SDK's own Worker registers so
        with client.engine_call("register the run's tasks"):
            for workflow in define_tasks(self.engine, [experiment], self.settings):
                admin.put_workflow(workflow.to_proto())

    def submit(self, store: Store, run: RunRef, manifest: Manifest, shape: RecursionMap | None) -> None:
        shape = shape or DEFAULT_SHAPE
        with client.engine_call("accept the run"):
            record = client.submit(self.engine, run, manifest.n_batches, shape.factor, shape.max_depth)
        store.put_bytes(run.key(HATCHET_ROOT), record.model_dump_json().encode())

    def resume(self, store: Store, run: RunRef, manifest: Manifest) -> None:
        missing = missing_batches(store, run, manifest)
        with client.engine_call("accept the resumed run"):
            if missing:
                client.trigger_batches(self.engine, run, missing)
            else:
                client.trigger_gather(self.engine, run)

    def wait(self, store: Store, run: RunRef, manifest: Manifest, *, progress: bool) -> GatherSummary:
        return wait_for_gather(store, run, manifest, progress=progress, hatchet=self.engine)

    def status(self, run: RunRef, manifest: Manifest) -> TaskCounts | None:
        """The run's tasks by state, as an autoscaler needs them (see `queue_counts`)."""
        store = self.settings.open_store(run.store)
        with client.engine_call("list the run's tasks"):
            tasks = client.run_tasks(self.engine, run, manifest.created_at)
        return queue_counts(store_progress(store, run, manifest), manifest.n_batches, tasks)

    def cancel(self, run: RunRef, manifest: Manifest) -> None:
        with client.engine_call("cancel the run's tasks"):
            client.cancel(self.engine, run, manifest.created_at)


def make(settings: ScytheSettings, *, workers: int | None = None) -> HatchetBackend:
    return HatchetBackend(settings)
