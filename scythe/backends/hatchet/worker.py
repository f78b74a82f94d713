"""A Hatchet worker process: serve experiments' tasks until interrupted, on every core it may use.

One Hatchet worker per machine: its `slots` batch tasks run in threads and share `processes` spec
processes (default one per usable core; `scythe.run.spec_pool`). A batch spreads its specs over
every process no other batch holds, so CPU-bound specs keep every core busy even when a worker
has fewer batches than cores. Measured on 2 cores (`bench/cores.py`, bench/RESULTS.md §10):
2,000 specs × 50 ms of CPU in 54.3 s, 1.09× the 50 s ideal (a bare ProcessPoolExecutor: 1.04×),
against 2.03× with one process. One worker with N processes, rather than N one-slot workers:
the Hatchet client, its listener process and the imports (pandas, pyarrow, boto3: ~150 MB) exist
once, and spec processes forked from a warm fork server share those pages.
"""

from __future__ import annotations

import importlib
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from scythe.backends import DEFAULT_WORKER_NAME
from scythe.backends.hatchet import client
from scythe.backends.hatchet.capacity import PROCESSES_LABEL
from scythe.backends.hatchet.tasks import define_tasks
from scythe.errors import ScytheError
from scythe.registry import (
    Experiment,
    ExperimentRegistry,
    load_entry_points,
    load_experiment,
    worker_labels_of,
)
from scythe.run import isolation
from scythe.settings import ScytheSettings, get_settings
from scythe.store import s3

DEFAULT_NAME = DEFAULT_WORKER_NAME
CGROUP = Path("/sys/fs/cgroup")


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


def usable_cores() -> int:
    """Cores this process may run on: its CPU affinity, capped by a container's CPU quota (a pod
    limited to 4 CPUs on a 64-core node sees `os.cpu_count()` = 64: 64 spec processes there would
    each run at 1/16 speed and overrun wall-clock timeouts)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    quota = _cgroup_quota()
    return max(1, min(cores, math.ceil(quota))) if quota else cores


def _cgroup_quota() -> float | None:
    """CPUs the cgroup allows (v2 `cpu.max`, v1 `cpu.cfs_quota_us`), None when unlimited."""
    try:
        if (CGROUP / "cpu.max").is_file():
            quota, period = (CGROUP / "cpu.max").read_text().split()[:2]
            return None if quota == "max" else int(quota) / int(period)
        v1 = CGROUP / "cpu"
        quota_us = int((v1 / "cpu.cfs_quota_us").read_text())
        return None if quota_us <= 0 else quota_us / int((v1 / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None


def default_processes() -> int:
    """One spec process per usable core, leaving one to the worker itself from 8 up (its Hatchet
    client and task threads relay every outcome and write every shard)."""
    cores = usable_cores()
    return cores if cores < 8 else cores - 1


def worker_counts(processes: int | None, slots: int | None) -> tuple[int, int]:
    """(processes, slots) from what was given: `--slots N` alone keeps its old meaning (N tasks
    each with a process of its own); neither, one of each per usable core; `--processes N` alone,
    N processes and at most one slot per core. A slot's per-batch work (S3, Parquet, the Hatchet
    client) runs in this one process, so slots beyond the cores only queue on its GIL, while each
    batch spreads its specs over every process no other batch holds (allocation plans for that:
    1,023 × 0.5 s specs on `--processes 256` of 2 cores are 2 batches of 512, not 256 of 4)."""
    if slots:
        return processes or slots, slots
    processes = processes or default_processes()
    return processes, min(processes, usable_cores())


def serve(
    experiments: list[Experiment[Any, Any]] | None = None,
    settings: ScytheSettings | None = None,
    *,
    name: str | None = None,
    slots: int | None = None,
    processes: int | None = None,
    labels: Mapping[str, str | int | bool] | None = None,
) -> None:
    """Serve `experiments` (default: every declared one) until stopped; a project's worker entrypoint.

    `processes`: specs run at once, each in a spec process of its own (default: `slots` when given,
    else one per usable core). `slots`: batch tasks taken at once (`SCYTHE_WORKER_SLOTS`, default:
    `processes`); a slot is not a process: a batch spreads over every process no other batch
    holds. `labels`: what this worker offers (`{"gpu": "true"}`); it then also runs the batches of
    experiments registered with those `worker_labels`, and only it runs them. Name defaults to
    `SCYTHE_WORKER_NAME`, else upstream's.
    """
    settings = settings or get_settings()
    processes, slots = worker_counts(processes, slots or settings.worker_slots)
    start_worker(
        experiments or served_experiments(),
        name=name or settings.worker_name or DEFAULT_NAME,
        slots=slots,
        processes=processes,
        labels=dict(worker_labels_of(labels or {})),
        settings=settings,
    )


def start_worker(
    experiments: list[Experiment[Any, Any]],
    *,
    name: str,
    slots: int,
    settings: ScytheSettings,
    processes: int | None = None,
    labels: dict[str, str | int] | None = None,
) -> None:
    """Serve `experiments` until interrupted (blocks)."""
    hatchet = client.connect()
    _warm_up(settings)
    # Slots are threads, so spec processes come from a fork server, started warm before any task.
    isolation.preload(sorted({e.fn.__module__ for e in experiments}))
    isolation.use_processes(processes or slots)
    workflows = define_tasks(hatchet, experiments, settings)
    offered = {**(labels or {}), PROCESSES_LABEL: processes or slots}  # read back by allocation
    worker = hatchet.worker(name, slots=slots, labels=offered, workflows=workflows)
    worker.start()


def _warm_up(settings: ScytheSettings) -> None:
    """Import what a batch needs (pandas, pyarrow, boto3: ~2 s) and build the S3 client before
    taking the first task, not inside it while every slot's thread waits: the first 10,000-spec
    run on a fresh 8-slot worker took 5.7 s where later ones took 2.8 s, its default store being
    local while the run's was on S3."""
    for module in ("scythe.run.task", "scythe.run.gather"):
        importlib.import_module(module)
    settings.open_store()
    s3.warm_client(settings.s3_endpoint_url)
