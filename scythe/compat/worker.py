"""scythe-engine's `ScytheWorkerConfig().start()`: a worker process for the Hatchet backend."""

from __future__ import annotations

import os
from typing import Any

from pydantic_settings import BaseSettings, SettingsConfigDict

from scythe.errors import ScytheError
from scythe.registry import Experiment, ExperimentRegistry


class ScytheWorkerConfig(BaseSettings):
    """Read from `SCYTHE_WORKER_*`, as upstream."""

    model_config = SettingsConfigDict(env_prefix="SCYTHE_WORKER_", extra="ignore")

    NAME: str | None = None
    SLOTS: int | None = None
    DURABLE_SLOTS: int | None = None
    HIGH_MEMORY: bool = False
    HIGH_CPU: bool = False
    HAS_GPU: bool = False
    DOES_FAN: bool = True
    DOES_LEAF: bool = True

    @property
    def computed_slots(self) -> int:
        cpus = os.cpu_count() or 1
        return self.SLOTS or (cpus if cpus < 8 else cpus - 1)

    @property
    def computed_name(self) -> str:
        return self.NAME or "ScytheWorker--Local"

    def start(self, experiments: list[Experiment[Any, Any]] | None = None) -> None:
        """Serve `experiments` (default: every registered one) to a Hatchet engine; blocks."""
        from scythe.backends.hatchet import start_worker

        chosen = experiments or [ExperimentRegistry.get(n) for n in ExperimentRegistry.names()]
        if not chosen:
            raise ScytheError("no experiments are registered: import your experiment module first")
        start_worker(chosen, name=self.computed_name, slots=self.computed_slots)


__all__ = ["ScytheWorkerConfig"]
