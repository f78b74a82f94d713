"""Where tasks execute: one `Backend` protocol (`base`), an embedded process pool, Hatchet, Slurm.

Every backend runs batches through `scythe.run.task.run_batch` and gathers with
`scythe.run.gather`, so the files a run leaves are the same wherever it ran. `get_backend(name)`
imports a backend only when it is chosen: the embedded default never imports hatchet_sdk.
May import: `scythe.run`, `scythe.store`, `scythe.registry`, `scythe.settings`, `scythe.errors`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from scythe.errors import ScytheError

if TYPE_CHECKING:
    from scythe.backends.base import Backend
    from scythe.settings import ScytheSettings

BACKENDS = {
    "embedded": "scythe.backends.embedded",
    "hatchet": "scythe.backends.hatchet",
    "slurm": "scythe.backends.slurm",
}
DEFAULT_WORKER_NAME = "ScytheWorker--Local"  # upstream's name for a Hatchet worker nobody named


def get_backend(name: str, settings: ScytheSettings, *, workers: int | None = None) -> Backend:
    """The backend called `name`, configured from `settings` (`workers`: the embedded pool size)."""
    if name not in BACKENDS:
        raise ScytheError(f"unknown backend {name!r}: use {' or '.join(BACKENDS)}")
    backend: Backend = importlib.import_module(BACKENDS[name]).make(settings, workers=workers)
    return backend
