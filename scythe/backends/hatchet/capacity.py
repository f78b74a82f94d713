"""What the engine says about the workers serving an experiment: the slots a run can use now.

Read from the engine's worker list (one REST call): every ACTIVE worker that registered the
experiment's batch task contributes the limit of its slots. Allocation sizes batches from it.
"""

from __future__ import annotations

from hatchet_sdk import Hatchet
from hatchet_sdk.clients.rest.models.worker_status import WorkerStatus

from scythe.backends.hatchet.client import batch_task_name


def serving_slots(hatchet: Hatchet, experiment: str) -> int | None:
    """Slots of the active workers that serve `experiment`'s batches; None when none does yet."""
    task = batch_task_name(experiment)
    total = 0
    for worker in hatchet.workers.list().rows or []:
        serves = any(action.split(":")[0] == task for action in worker.actions or [])
        if worker.status != WorkerStatus.ACTIVE or not serves:
            continue
        config = (worker.slot_config or {}).get("default")
        total += config.limit if config is not None else 0
    return total or None
