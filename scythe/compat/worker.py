"""scythe-engine's `ScytheWorkerConfig().start()`: a worker process for the Hatchet backend."""

from __future__ import annotations

from typing import Any

from pydantic_settings import BaseSettings, SettingsConfigDict

from scythe.backends.base import default_slots
from scythe.errors import ScytheError
from scythe.registry import Experiment


class ScytheWorkerConfig(BaseSettings):
    """Read from `SCYTHE_WORKER_*`, as upstream. Hatchet's worker labels (`HIGH_MEMORY`, `HIGH_CPU`,
    `HAS_GPU`, `DOES_FAN`, `DOES_LEAF`) and `DURABLE_SLOTS` have no Scythe meaning: setting one
    raises when the worker starts, rather than being ignored."""

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
        return self.SLOTS or default_slots()

    @property
    def computed_name(self) -> str:
        from scythe.backends.hatchet.worker import DEFAULT_NAME

        return self.NAME or DEFAULT_NAME

    def unsupported(self) -> list[str]:
        """The settings given that Scythe cannot honour (upstream's labels and durable slots)."""
        defaults = ScytheWorkerConfig.model_construct()
        names = ["DURABLE_SLOTS", "HIGH_MEMORY", "HIGH_CPU", "HAS_GPU", "DOES_FAN", "DOES_LEAF"]
        return [n for n in names if getattr(self, n) != getattr(defaults, n)]

    def start(self, experiments: list[Experiment[Any, Any]] | None = None) -> None:
        """Serve `experiments` (default: every registered one) to a Hatchet engine; blocks."""
        from scythe.backends.hatchet.worker import serve

        ignored = self.unsupported()
        if ignored:
            listed = ", ".join(f"SCYTHE_WORKER_{n}" for n in ignored)
            raise ScytheError(
                f"{listed}: not supported by Scythe's workers; route work with "
                "`scythe worker --label KEY=VALUE` and Register(worker_labels={KEY: VALUE})"
            )
        serve(experiments, name=self.computed_name, slots=self.computed_slots)


__all__ = ["ScytheWorkerConfig"]
