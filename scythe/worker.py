"""scythe-engine's `ScytheWorkerConfig().start()`: a worker process for the Hatchet backend."""

from __future__ import annotations

import os

from pydantic_settings import BaseSettings, SettingsConfigDict

from scythe.errors import ScytheError


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

    def start(self, experiments: list[object] | None = None) -> None:
        """Serve the registered experiments to a Hatchet engine (blocks)."""
        raise ScytheError(
            "the Hatchet backend is not part of this build yet; run designs with `scythe run` "
            "(embedded backend) meanwhile"
        )
