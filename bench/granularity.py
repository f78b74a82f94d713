"""Utilisation for real spec durations: Scythe's batch plan against main's fixed ~64 batches.

One table per cell of the matrix (spec seconds × slots): ideal time ÷ wall time end to end
(allocation, every batch, gather), where ideal = Σ spec seconds ÷ slots. Specs sleep (the
`bench_sleep` experiment), so 256 slots fit on 2 cores: the slots are embedded pool processes.
Contenders, interleaved in the same process run:

- "scythe (batch plan)": this tree's `allocate` choosing batch sizes (`scythe/run/batching.py`),
  with the spec time a previous run recorded (one untimed pilot run of the cell per child);
- "main's batching": the same code with `--batch-size` = ceil(n ÷ 64) ≤ 1,000, what main chose.

Where the machine bounds a cell (10 ms specs on 256 slots: 512,000 specs whose allocation alone
takes ~10 s of the 20 s ideal), the table shows it: the "allocation + gather" column is the
part of the wall no batching can remove.
"""

from __future__ import annotations

import math
import shutil
import time
import uuid
from typing import Any

from bench.common import OUT, Column, Comparison, Contender, Report, Size, Verdict, fmt_int, run_child

# (spec seconds, slots) cells and the ideal seconds each is sized to.
CELLS: dict[str, tuple[list[float], list[int], float]] = {
    "smoke": ([0.01, 0.1], [4], 1.0),
    "full": ([0.01, 0.1, 1.0], [16, 64, 256], 20.0),
}
TARGET_UTILISATION = 0.85
MAIN_TARGET_BATCHES = 64


def main_batch_size(n: int) -> int:
    """What main chose for any run: about 64 batches, at most 1,000 specs each."""
    return max(1, min(1000, math.ceil(n / MAIN_TARGET_BATCHES)))


def child_run(n: int, seconds: float, slots: int, batch_size: int | None, pilot: bool) -> dict[str, Any]:
    """`allocate` of `n` sleeping specs on `slots` embedded processes; with `pilot`, a small untimed
    run first records the spec time the batch plan reads (as a researcher's earlier run would)."""
    import pandas as pd

    import scythe.backends.embedded
    import scythe.run.gather  # noqa: F401  (imports are a process's one-off cost: not timed)
    from bench import experiments
    from scythe.run.allocation import allocate

    store = OUT / "tmp" / f"granularity-{uuid.uuid4().hex[:8]}"
    if pilot:
        allocate(
            experiments.sleep,
            pd.DataFrame({"x": [seconds] * slots}),
            store=str(store),
            workers=slots,
            progress=False,
        )
    design = pd.DataFrame({"x": [seconds] * n})
    started = time.perf_counter()
    result = allocate(
        experiments.sleep, design, store=str(store), workers=slots, batch_size=batch_size, progress=False
    )
    wall = time.perf_counter() - started
    shutil.rmtree(store, ignore_errors=True)
    if result.succeeded != n:
        raise RuntimeError(f"scythe ran {result.succeeded} of {n} specs ({result.failed} failed)")
    ideal = n * seconds / slots
    return {"seconds": wall, "utilisation": ideal / wall, "batches": result.batches}


def _cell(seconds: float, slots: int, ideal: float, reps: int) -> Comparison:
    n = math.ceil(ideal * slots / seconds)
    params = {"n": n, "seconds": seconds, "slots": slots}
    return Comparison(
        f"{fmt_int(n)} specs × {seconds * 1000:.0f} ms on {slots} slots (ideal {ideal:.0f} s): utilisation",
        [
            Contender(
                "scythe (batch plan)",
                lambda _: (
                    run_child(
                        "bench.granularity:child_run", {**params, "batch_size": None, "pilot": True}
                    ).data
                ),
                "batch sizes from the slots and the recorded spec time",
                is_scythe=True,
            ),
            Contender(
                "main's batching",
                lambda _: (
                    run_child(
                        "bench.granularity:child_run",
                        {**params, "batch_size": main_batch_size(n), "pilot": False},
                    ).data
                ),
                f"--batch-size {main_batch_size(n)} (about 64 batches)",
            ),
        ],
    ).measure(reps)


def run(size: Size, reps: int) -> Report:
    durations, slot_counts, ideal = CELLS[size]
    report = Report("granularity", size)
    columns = [Column("seconds", "seconds", ratio=True), Column("utilisation", "utilisation", "{:.1%}")]
    for seconds in durations:
        for slots in slot_counts:
            cell = _cell(seconds, slots, ideal, reps)
            report.tables.append((cell, columns))
            measured = cell.median(cell.scythe.name, "utilisation") or 0.0
            report.verdicts.append(
                Verdict(
                    f"utilisation, {seconds * 1000:.0f} ms × {slots} slots",
                    measured,
                    TARGET_UTILISATION,
                    higher_is_better=True,
                )
            )
    return report
