"""Upstream's benchmark shape on Hatchet: 1,023 specs × 0.5 s on 256 slots, ideal 2 s.

szvsw/scythe-benchmark runs 1,023 specs that sleep 0.5 s on 256 one-slot workers (Hatchet Cloud)
and took 29 s at best. Here, one local stack (Postgres + SeaweedFS + Hatchet engine) on this
machine, each contender's workers started before the clock and idle except the one measured;
figures are a driver's wall time from "here are the specs" to "every result gathered":

- "scythe, --processes 256": one `scythe worker --processes 256` (2 slots on 2 cores), the
  batch plan reading the slots and processes the engine reports and the spec time the previous
  repetition recorded: 2 batches of 512 specs, each spread over 128 spec processes;
- "scythe, --slots 256": one worker of 256 one-process slots (main's only way): 256 batches of 4;
- "raw SDK, Scythe's tasks": `run_many` of the same number of tasks as Scythe's plan, each
  sleeping its specs' time over as many coroutines as its slot has processes; nothing stored.
  The bound on this machine for Scythe's shape (engine dispatch and a task's round trip);
- "raw SDK, 1 task/spec": 1,023 async tasks sleeping 0.5 s on a 256-slot worker: the floor of
  upstream's design, one Hatchet task per spec;
- "upstream scythe-engine 1.3.0": its own venv (PyPI), one worker with 256 slots
  (`SCYTHE_WORKER_SLOTS`) serving a sleep experiment, `allocate` + `ref.result()`. Upstream ran
  256 one-slot worker processes; 256 Python processes of ~150 MB do not fit this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
from typing import Any

from hatchet_sdk import Context
from pydantic import BaseModel

from bench.common import (
    BENCH,
    OUT,
    Column,
    Comparison,
    Contender,
    Report,
    Size,
    Verdict,
    fmt_int,
    run_child,
    warm_hatchet_driver,
)
from bench.fanout import BUCKET, UPSTREAM_PY, Stack, ensure_upstream_venv, run_upstream, scythe_tasks, stack

#: (specs, seconds a spec, slots): upstream's shape at full size, a small one for smoke.
SHAPES: dict[str, tuple[int, float, int]] = {"full": (1023, 0.5, 256), "smoke": (63, 0.2, 16)}
RAW_SLEEP = "bench_shape_sleep"
RAW_SLEEP_BATCH = "bench_shape_sleep_batch"
UPSTREAM = "upstream scythe-engine 1.3.0"
SCYTHE = "scythe, --processes"
TARGET_IDEAL = 3.0  # × the ideal, the target
TARGET_UPSTREAM = 5.0  # × faster than upstream
TARGET_BOUND = 1.3  # × the raw SDK running Scythe's tasks, where the machine bounds the ideal


class SleepInput(BaseModel):
    seconds: float


class SleepBatchInput(BaseModel):
    seconds: list[float]
    width: int  # sleeps at once: the processes a Scythe batch spreads over


def serve_raw(slots: int) -> None:
    """The raw SDK's worker: one task that sleeps, one that sleeps a batch `width` at a time."""
    from hatchet_sdk import Hatchet

    hatchet = Hatchet()

    @hatchet.task(name=RAW_SLEEP, input_validator=SleepInput)
    async def sleep(item: SleepInput, ctx: Context) -> dict[str, float]:
        await asyncio.sleep(item.seconds)
        return {"y": item.seconds}

    @hatchet.task(name=RAW_SLEEP_BATCH, input_validator=SleepBatchInput)
    async def sleep_batch(item: SleepBatchInput, ctx: Context) -> dict[str, int]:
        gate = asyncio.Semaphore(item.width)

        async def one(seconds: float) -> None:
            async with gate:
                await asyncio.sleep(seconds)

        await asyncio.gather(*(one(s) for s in item.seconds))
        return {"rows": len(item.seconds)}

    hatchet.worker("bench-shape-raw", slots=slots, workflows=[sleep, sleep_batch]).start()


def child_scythe(n: int, seconds: float, store: str, experiment: str) -> dict[str, Any]:
    """`scythe.allocate` of n sleeping specs on the Hatchet backend, planned batches."""
    import time

    import pandas as pd

    from bench import experiments
    from scythe.run.allocation import allocate

    chosen = {"sleep": experiments.sleep, "sleep_wide": experiments.sleep_wide}[experiment]
    warm_hatchet_driver(store)
    started = time.perf_counter()
    result = allocate(
        chosen, pd.DataFrame({"x": [seconds] * n}), store=store, backend="hatchet", progress=False
    )
    wall = time.perf_counter() - started
    if result.succeeded != n:
        raise RuntimeError(f"scythe gathered {result.succeeded} of {n} specs ({result.failed} failed)")
    batches = int(result.batches.split(" of ")[0])
    return {"seconds": wall, "tasks": scythe_tasks(batches), "batches": batches, "plan": result.batches}


def child_raw(n: int, seconds: float, tasks: int, width: int) -> dict[str, Any]:
    """`run_many` of `tasks` raw tasks covering n sleeps (one sleep a task when tasks == n)."""
    import time

    from hatchet_sdk import Hatchet

    hatchet = Hatchet()
    started = time.perf_counter()
    if tasks >= n:
        single = hatchet.stubs.task(name=RAW_SLEEP, input_validator=SleepInput)
        single.run_many([single.create_bulk_run_item(SleepInput(seconds=seconds)) for _ in range(n)])
    else:
        batch = hatchet.stubs.task(name=RAW_SLEEP_BATCH, input_validator=SleepBatchInput)
        size = math.ceil(n / tasks)
        parts = [min(size, n - lo) for lo in range(0, n, size)]
        batch.run_many(
            [batch.create_bulk_run_item(SleepBatchInput(seconds=[seconds] * k, width=width)) for k in parts]
        )
    return {"seconds": time.perf_counter() - started, "tasks": min(tasks, n)}


def _start_workers(slots: int) -> Any:
    def start(running: Stack, upstream: bool) -> None:
        py = sys.executable
        scythe = [py, "-P", "-m", "scythe", "worker"]
        running.start_worker(
            "scythe", [*scythe, "bench.experiments:sleep", "--processes", str(slots)], running.env, OUT
        )
        # main's shape: a slot per spec process, under another experiment name (same function)
        running.start_worker(
            "scythe-slots", [*scythe, "bench.experiments:sleep_wide", "--slots", str(slots)], running.env, OUT
        )
        running.start_worker(
            "raw", [py, "-P", "-m", "bench.shape", "worker", "--slots", str(slots)], running.env, OUT
        )
        if upstream:
            env = {**running.upstream_env, "SCYTHE_WORKER_SLOTS": str(slots)}
            running.start_worker(
                "upstream", [str(UPSTREAM_PY), str(BENCH / "upstream" / "worker.py")], env, BENCH / "upstream"
            )

    return start


def run(size: Size, reps: int, *, upstream: bool = True) -> Report:
    n, seconds, slots = SHAPES[size]
    ideal = n * seconds / slots
    if upstream:
        ensure_upstream_venv()
    report = Report("shape", size)
    OUT.mkdir(parents=True, exist_ok=True)
    with stack(upstream, _start_workers(slots)) as running:
        comparison = _compare(running, n, seconds, slots, reps, upstream=upstream)
    for samples in comparison.samples.values():
        for sample in samples:
            sample["ideal_ratio"] = sample["seconds"] / ideal
    report.tables.append(
        (
            comparison,
            [
                Column("seconds", "seconds", ratio=True),
                Column("× ideal", "ideal_ratio", "{:.2f}×"),
                Column("Hatchet tasks", "tasks", "{:,.0f}"),
            ],
        )
    )
    mine = comparison.median(SCYTHE) or math.inf
    report.verdicts.append(
        Verdict(f"within {TARGET_IDEAL:g}× the {ideal:g} s ideal", mine / ideal, TARGET_IDEAL)
    )
    bound = comparison.median("raw SDK, Scythe's tasks")
    if bound:
        report.verdicts.append(
            Verdict(
                f"within {TARGET_BOUND}× of the raw SDK running Scythe's tasks", mine / bound, TARGET_BOUND
            )
        )
    theirs = comparison.median(UPSTREAM) if UPSTREAM in comparison.samples else None
    if theirs:
        report.verdicts.append(
            Verdict(
                f"≥ {TARGET_UPSTREAM:g}× faster than upstream",
                theirs / mine,
                TARGET_UPSTREAM,
                higher_is_better=True,
            )
        )
    plans = sorted({s.get("plan", "") for s in comparison.samples[SCYTHE]})
    report.notes.append(f"scythe's plan: {'; '.join(plans)}")
    report.notes.append(
        "each contender ran once untimed before the first repetition (a cold worker; Scythe's on no "
        "recorded spec time)"
    )
    return report


def _compare(running: Stack, n: int, seconds: float, slots: int, reps: int, *, upstream: bool) -> Comparison:
    logs = OUT / "logs"
    planned: dict[str, int] = {"tasks": 2, "width": slots // 2}  # updated from Scythe's last plan

    def scythe(experiment: str) -> Any:
        def go(rep: int) -> dict[str, Any]:
            params = {
                "n": n,
                "seconds": seconds,
                "store": f"s3://{BUCKET}/shape-{experiment}",
                "experiment": experiment,
            }
            log = logs / f"shape-{experiment}-{rep}.log"
            data = run_child("bench.shape:child_scythe", params, env=running.env, log=log).data
            if experiment == "sleep":
                planned["tasks"] = data["batches"]
                planned["width"] = max(1, slots // planned["tasks"])
            return data

        return go

    def raw(per_spec: bool) -> Any:
        def go(rep: int) -> dict[str, Any]:
            tasks = n if per_spec else planned["tasks"]
            params = {"n": n, "seconds": seconds, "tasks": tasks, "width": planned["width"]}
            log = logs / f"shape-raw-{tasks}-{rep}.log"
            return run_child("bench.shape:child_raw", params, env=running.env, log=log).data

        return go

    def upstream_run(rep: int) -> dict[str, Any]:
        extra = {"experiment": "sleep", "x": seconds}
        return run_upstream(running, n, extra, logs / f"shape-upstream-{rep}.log")

    contenders = [
        Contender(
            SCYTHE,
            scythe("sleep"),
            f"one worker, --processes {slots}: planned batches spread over them",
            is_scythe=True,
        ),
        Contender(
            "scythe, --slots",
            scythe("sleep_wide"),
            f"one worker, --slots {slots}: a batch per slot (main's way)",
        ),
        Contender(
            "raw SDK, Scythe's tasks",
            raw(False),
            "as many tasks as Scythe's plan, sleeping as wide; nothing stored",
        ),
        Contender(
            "raw SDK, 1 task/spec",
            raw(True),
            f"{fmt_int(n)} async sleep tasks on {slots} slots; nothing stored",
        ),
    ]
    if upstream:
        contenders.append(
            Contender(
                UPSTREAM,
                upstream_run,
                f"one worker of {slots} slots, a task per spec; S3",
            )
        )
    shape = f"{fmt_int(n)} specs × {seconds * 1000:.0f} ms on {slots} slots"
    title = f"upstream's shape, {shape} (ideal {n * seconds / slots:g} s): wall seconds"
    return Comparison(title, contenders).measure(reps, warm_up=True)


def main() -> None:
    parser = argparse.ArgumentParser(description="the raw-SDK worker of the shape benchmark")
    parser.add_argument("command", choices=["worker"])
    parser.add_argument("--slots", type=int, default=256)
    args = parser.parse_args()
    serve_raw(args.slots)


if __name__ == "__main__":
    main()
