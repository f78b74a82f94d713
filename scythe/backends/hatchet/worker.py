"""A Hatchet worker process: serve experiments' tasks until interrupted."""

from __future__ import annotations

import importlib
from typing import Any

from scythe.backends import DEFAULT_WORKER_NAME
from scythe.backends.base import default_slots
from scythe.backends.hatchet import client
from scythe.backends.hatchet.tasks import define_tasks
from scythe.errors import ScytheError
from scythe.registry import Experiment, ExperimentRegistry, load_entry_points, load_experiment
from scythe.run import isolation
from scythe.settings import ScytheSettings, get_settings

DEFAULT_NAME = DEFAULT_WORKER_NAME


def served_experiments(names: list[str] | None = None) -> list[Experiment[Any, Any]]:
    """The experiments named (module:function or registered names), else every one registered,
    including those installed projects declare under `scythe.experiments`."""
    if names:
        return [load_experiment(n) for n in names]
    load_entry_points()
    chosen = [ExperimentRegistry.get(n) for n in ExperimentRegistry.names()]
    if not chosen:
        raise ScytheError("no experiments to serve: name them, or run inside a project that declares them")
    return chosen


def serve(
    experiments: list[Experiment[Any, Any]] | None = None,
    settings: ScytheSettings | None = None,
    *,
    name: str | None = None,
    slots: int | None = None,
) -> None:
    """Serve `experiments` (default: every declared one) until stopped; a project's worker entrypoint.

    Name and slots default to `SCYTHE_WORKER_NAME` / `SCYTHE_WORKER_SLOTS`, else upstream's name
    and every CPU (one left free from 8 up).
    """
    settings = settings or get_settings()
    start_worker(
        experiments or served_experiments(),
        name=name or settings.worker_name or DEFAULT_NAME,
        slots=slots or settings.worker_slots or default_slots(),
        settings=settings,
    )


def start_worker(
    experiments: list[Experiment[Any, Any]], *, name: str, slots: int, settings: ScytheSettings
) -> None:
    """Serve `experiments` until interrupted (blocks)."""
    hatchet = client.connect()
    _warm_up(settings)
    # Slots are threads, so each batch's spec process comes from a fork server, started warm.
    isolation.preload(sorted({e.fn.__module__ for e in experiments}))
    worker = hatchet.worker(name, slots=slots, workflows=define_tasks(hatchet, experiments, settings))
    worker.start()


def _warm_up(settings: ScytheSettings) -> None:
    """Import what a batch needs (pandas, pyarrow, boto3: ~2 s) before taking the first task,
    not inside it while every slot's thread waits on the import lock."""
    for module in ("scythe.run.task", "scythe.run.gather"):
        importlib.import_module(module)
    settings.open_store()
