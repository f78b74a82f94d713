"""What the engine says about the workers serving an experiment: what a run can use now.

Read from the engine's worker list (one REST call): every ACTIVE worker that registered the
experiment's batch task contributes the limit of its slots and, from the `scythe-processes` label
it registers with (`scythe.backends.hatchet.worker`), its spec processes. Allocation sizes batches
from both: a worker with more processes than slots spreads each batch over them.
"""

from __future__ import annotations

from hatchet_sdk import Hatchet
from hatchet_sdk.clients.rest.models.worker import Worker
from hatchet_sdk.clients.rest.models.worker_status import WorkerStatus

from scythe.backends.hatchet.client import batch_task_name
from scythe.run.batching import Capacity

PROCESSES_LABEL = "scythe-processes"  # a worker's spec processes, as it registers them


def serving_capacity(hatchet: Hatchet, experiment: str) -> Capacity | None:
    """Slots (and spec processes per slot) of the active workers serving `experiment`'s batches;
    None when none does yet."""
    task = hatchet.config.apply_namespace(batch_task_name(experiment))  # actions carry the namespace
    slots = processes = 0
    for worker in hatchet.workers.list().rows or []:
        serves = any(action.split(":")[0] == task for action in worker.actions or [])
        if worker.status != WorkerStatus.ACTIVE or not serves:
            continue
        config = (worker.slot_config or {}).get("default")
        limit = config.limit if config is not None else 0
        slots += limit
        processes += max(limit, _processes(worker))
    if not slots:
        return None
    return Capacity(slots=slots, spread=max(1, processes // slots))


def _processes(worker: Worker) -> int:
    """The worker's spec processes from its label (0 if it has none, e.g. an older Scythe's)."""
    for label in worker.labels or []:
        if label.key == PROCESSES_LABEL and label.value and label.value.isdigit():
            return int(label.value)
    return 0
