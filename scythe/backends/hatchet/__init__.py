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
from scythe.backends.hatchet.monitor import wait_for_gather
from scythe.errors import BackendError
from scythe.registry import Experiment
from scythe.run.commits import GatherSummary, missing_batches
from scythe.run.layout import HATCHET_ROOT, RunRef
from scythe.run.manifest import Manifest
from scythe.settings import ScytheSettings
from scythe.store import Store

DEFAULT_SHAPE = RecursionMap(factor=client.BULK_LIMIT, max_depth=3)  # one level of ≤ 1,000 batches


class HatchetBackend:
    """Batches run as Hatchet tasks on whatever workers serve the experiment."""

    name: ClassVar[str] = "hatchet"
    detaches: ClassVar[bool] = True

    def __init__(self, settings: ScytheSettings) -> None:
        self.settings = settings
        self._engine: Hatchet | None = None

    @property
    def engine(self) -> Hatchet:
        if self._engine is None:
            self._engine = client.connect()
        return self._engine

    def check(self, experiment: Experiment[Any, Any]) -> None:
        """Refuse to submit before any worker has registered the run's tasks (the engine would drop it)."""
        with client.engine_call("list the registered tasks"):
            missing = client.missing_registrations(self.engine, experiment.name)
        if missing:
            raise BackendError(
                f"no worker has registered {missing[0]!r} with Hatchet yet: start one first "
                f"(`scythe worker` in the experiment's project) and run again"
            )

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
        with client.engine_call("list the run's tasks"):
            return client.task_counts(self.engine, run, manifest.created_at)

    def cancel(self, run: RunRef, manifest: Manifest) -> None:
        with client.engine_call("cancel the run's tasks"):
            client.cancel(self.engine, run, manifest.created_at)


def make(settings: ScytheSettings, *, workers: int | None = None) -> HatchetBackend:
    return HatchetBackend(settings)
