"""CPU-bound specs on one Hatchet worker: does `scythe worker` use every core of its machine?

N specs that each burn 50 ms of CPU (`bench.experiments.burn_cpu`), end to end through the Hatchet
backend on the local stack (allocate → scatter → batch tasks → gather into final/scalars.pq), on:
- a worker started with no options: one spec process per core (the default);
- the same worker given the whole run as ONE batch (`batch_size` = N): its specs spread over every
  spec process (with one spec process per batch, as before issue 12, this takes one core);
- the same worker with one spec process (`--processes 1`): the single-process figure;
- a bare `ProcessPoolExecutor` over the same specs, one process per core, nothing stored: the limit;
and the ideal, N × 50 ms ÷ cores. Each worker serves an experiment of its own (the same function
under two names, so the engine's worker list tells each run its own worker's slots and an idle
worker never takes the measured one's tasks); each does one untimed warm-up run first.
"cores used" is the useful CPU (N × 50 ms) ÷ wall; "worker parent CPU" is what the worker's own
process (the Hatchet client, the task threads relaying outcomes, shard writes) burnt meanwhile,
read from /proc: the share of a core the design spends outside the spec processes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import (
    OUT,
    Column,
    Comparison,
    Contender,
    Report,
    Size,
    Verdict,
    child_env,
    fmt_int,
    for_size,
    run_child,
    warm_hatchet_driver,
)
from bench.experiments import SPIN_SECONDS, PointInput, PointOutput, burn_cpu
from scythe.registry import Experiment, ExperimentRegistry

SIZES = {"smoke": 40, "full": 2_000}
BUCKET = "scythe-bench-cores"
TARGET = 1.15  # × the ideal (N × 50 ms ÷ cores), the bound
DEFAULT = "scythe worker (default)"
SINGLE = "scythe worker --processes 1"
ONE_BATCH = "scythe worker (default), one batch"
POOL = "ProcessPoolExecutor (limit)"


@ExperimentRegistry.Register(name="bench_cores_default", timeout=60)
def spin_default(input_spec: PointInput) -> PointOutput:
    """50 ms of CPU, served by the default worker."""
    burn_cpu()
    return PointOutput(y=input_spec.x)


@ExperimentRegistry.Register(name="bench_cores_single", timeout=60)
def spin_single(input_spec: PointInput) -> PointOutput:
    """50 ms of CPU, served by the one-process worker."""
    burn_cpu()
    return PointOutput(y=input_spec.x)


EXPERIMENTS: dict[str, Experiment[Any, Any]] = {DEFAULT: spin_default, SINGLE: spin_single}


def cores() -> int:
    return len(os.sched_getaffinity(0))


def child_scythe(n: int, store: str, contender: str, batch_size: int | None = None) -> dict[str, Any]:
    """`scythe.allocate` of n spin specs on the Hatchet backend, from design to gathered results."""
    import pandas as pd

    from scythe.run.allocation import allocate
    from scythe.run.manifest import read_manifest
    from scythe.store import open_store

    design = pd.DataFrame({"x": [float(i) for i in range(n)]})
    warm_hatchet_driver(store)
    started = time.perf_counter()
    experiment = EXPERIMENTS[contender]
    result = allocate(
        experiment, design, store=store, backend="hatchet", batch_size=batch_size, progress=False
    )
    seconds = time.perf_counter() - started
    if result.succeeded != n:
        raise RuntimeError(f"scythe gathered {result.succeeded} of {n} specs ({result.failed} failed)")
    manifest = read_manifest(open_store(store), result.run)
    return {"seconds": seconds, "batches": manifest.n_batches, "batch_size": manifest.batch_size}


def _cpu_seconds(pid: int) -> float:
    """utime + stime of one process (not its children), from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Worker:
    """One `scythe worker` serving its own experiment."""

    name: str
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    runs: list[str] = field(default_factory=list)


def _process_flag(env: dict[str, str]) -> str:
    """`--processes` where the measured Scythe has it, else `--slots` (one process per slot)."""
    shown = subprocess.run(
        [sys.executable, "-P", "-m", "scythe", "worker", "--help"], env=env, capture_output=True, text=True
    )
    return "--processes" if "--processes" in shown.stdout else "--slots"


@contextlib.contextmanager
def stack() -> Iterator[dict[str, Worker]]:
    """Postgres + SeaweedFS + Hatchet in a 0755 folder, and the two workers, each warmed up."""
    import boto3

    from scythe.dev.processes import start_worker_process
    from scythe.dev.stack import dev_stack

    root = Path(tempfile.mkdtemp(prefix="scythe-bench-cores-"))
    root.chmod(0o755)
    workers: dict[str, Worker] = {}
    try:
        with dev_stack(root) as (_pg, s3, hatchet):
            client = boto3.client("s3", **s3.boto3_kwargs())
            client.create_bucket(Bucket=BUCKET)
            s3_env = {
                "AWS_ACCESS_KEY_ID": s3.access_key,
                "AWS_SECRET_ACCESS_KEY": s3.secret_key,
                "AWS_ENDPOINT_URL": s3.endpoint_url,
                "AWS_DEFAULT_REGION": "us-east-1",
            }
            flag = _process_flag(child_env())
            env = child_env({**s3_env, **hatchet.client_env()})
            for name, extra in ((DEFAULT, []), (SINGLE, [flag, "1"])):
                experiment = f"bench.cores:{EXPERIMENTS[name].fn.__name__}"
                argv = [sys.executable, "-P", "-m", "scythe", "worker", experiment, *extra]
                log = root / f"worker-{len(workers)}.log"
                worker = Worker(name, env)
                worker.proc = start_worker_process(argv, log=log, env=env, cwd=OUT, what=name, timeout=180)
                workers[name] = worker
                warm_up = {"n": 4 * cores(), "store": _store(), "contender": name}
                run_child("bench.cores:child_scythe", warm_up, env=env, timeout=600)
            yield workers
    finally:
        for worker in workers.values():
            if worker.proc is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(worker.proc.pid, 9)
                worker.proc.wait()
        shutil.rmtree(root, ignore_errors=True)


def _store() -> str:
    return f"s3://{BUCKET}/cores-{uuid.uuid4().hex[:8]}"


def _on(worker: Worker, n: int, batch_size: int | None = None) -> Any:
    def go(rep: int) -> dict[str, Any]:
        assert worker.proc is not None
        before = _cpu_seconds(worker.proc.pid)
        log = OUT / "logs" / f"cores-{worker.name.split()[-1]}-{n}-{batch_size}-{rep}.log"
        params = {"n": n, "store": _store(), "contender": worker.name, "batch_size": batch_size}
        data = run_child("bench.cores:child_scythe", params, env=worker.env, log=log, timeout=1800).data
        return {**data, "parent_cpu": _cpu_seconds(worker.proc.pid) - before}

    return go


def _pool(n: int) -> Any:
    def go(rep: int) -> dict[str, Any]:
        params = {"n": n, "experiment": "spin", "workers": cores(), "chunksize": 1, "write": False}
        return run_child("bench.embedded:child_pool", params).data

    return go


def run(size: Size, reps: int) -> Report:
    n, c = SIZES[size], cores()
    ideal = n * SPIN_SECONDS / c
    OUT.mkdir(parents=True, exist_ok=True)
    with stack() as workers:
        comparison = Comparison(
            f"Hatchet worker, {fmt_int(n)} specs × 50 ms CPU, {c} cores: wall seconds",
            for_size(
                size,
                [
                    Contender(
                        DEFAULT,
                        _on(workers[DEFAULT], n),
                        "no options: a spec process per core",
                        is_scythe=True,
                    ),
                    Contender(ONE_BATCH, _on(workers[DEFAULT], n, n), f"batch_size={n}", full_only=True),
                    Contender(SINGLE, _on(workers[SINGLE], n), "one spec process", full_only=True),
                    Contender(POOL, _pool(n), f"{c} processes, chunksize=1, outputs kept in memory"),
                ],
            ),
        ).measure(reps)
    for samples in comparison.samples.values():
        for s in samples:
            s["cores_used"] = n * SPIN_SECONDS / s["seconds"]
            s["of_ideal"] = s["seconds"] / ideal
    report = Report("cores", size)
    columns = [
        Column("seconds", "seconds", ratio=True),
        Column("÷ ideal", "of_ideal", "{:.2f}×"),
        Column("cores used", "cores_used", "{:.2f}"),
        Column("worker parent CPU s", "parent_cpu", "{:.1f}"),
        Column("batches", "batches", "{:.0f}"),
    ]
    report.tables.append((comparison, columns))
    mine = comparison.median(DEFAULT)
    assert mine is not None
    report.verdicts.append(
        Verdict(f"default worker within {TARGET}× of the ideal ({ideal:.1f} s)", mine / ideal, TARGET)
    )
    report.notes.append(
        f"ideal = {fmt_int(n)} × {SPIN_SECONDS * 1000:.0f} ms of CPU ÷ {c} cores = {ideal:.1f} s; the "
        "engine, Postgres and the S3 server share those cores, and any other load lowers every figure"
    )
    return report
