"""Issue 12, item 1: batch sizes that keep every slot busy, from the slots a backend reports and
the spec time an earlier run of the experiment recorded (`scythe/run/batching.py`)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
from conftest import scythe
from sample_experiments import square

from scythe import allocate
from scythe.run import batching
from scythe.run.batching import MAX_BATCH, MAX_BATCH_SECONDS, plan
from scythe.run.manifest import find_run, read_manifest
from scythe.store import LocalStore

HATCHET_OVERHEAD = 0.25


def modelled_utilisation(n: int, size: int, slots: int, seconds: float, overhead: float) -> float:
    """Ideal ÷ wall for equal batches in waves: each wave lasts one batch plus its overhead."""
    waves = math.ceil(math.ceil(n / size) / slots)
    return (n * seconds / slots) / (waves * (size * seconds + overhead))


@pytest.mark.parametrize("seconds", [0.01, 0.1, 1.0])
@pytest.mark.parametrize("slots", [16, 64, 256])
def test_item_12_01_every_cell_of_the_matrix_is_planned_above_the_target(seconds: float, slots: int) -> None:
    n = math.ceil(20 * slots / seconds)  # an ideal time of 20 s, the smallest cell
    for known in (seconds, None):
        chosen = plan(n, slots=slots, spec_seconds=known, batch_overhead=HATCHET_OVERHEAD)
        assert chosen.n_batches % slots == 0, chosen  # whole waves: no slot idles in the last one
        assert modelled_utilisation(n, chosen.size, slots, seconds, HATCHET_OVERHEAD) >= 0.95, chosen


def test_item_12_01_long_specs_are_cut_so_a_lost_worker_costs_minutes_not_hours() -> None:
    # The example: 10,000 one-minute specs on 200 slots were 64 batches of 157 minutes.
    chosen = plan(10_000, slots=200, spec_seconds=60.0, batch_overhead=HATCHET_OVERHEAD)
    assert chosen.size * 60 <= MAX_BATCH_SECONDS
    assert chosen.n_batches >= 200
    assert chosen.n_batches % 200 == 0
    assert "200 slots, ~60.0 s a spec" in chosen.why


@pytest.mark.parametrize("known", [0.5, None])
def test_item_12_01_upstreams_shape_is_one_wave_not_a_thousand_tiny_tasks(known: float | None) -> None:
    # 1,023 specs of 0.5 s on 256 slots: 1,023 one-spec tasks took 530 s on main.
    chosen = plan(1023, slots=256, spec_seconds=known, batch_overhead=HATCHET_OVERHEAD)
    assert (chosen.size, chosen.n_batches) == (4, 256)


@pytest.mark.parametrize("known", [0.5, None])
def test_item_12_01_more_processes_than_slots_make_few_large_batches(known: float | None) -> None:
    # The same shape on one worker of 2 slots × 128 processes (`scythe worker --processes 256` on
    # 2 cores): 2 batches, each spread over its slot's 128 processes, finish in 4 spec times.
    chosen = plan(1023, slots=2, spec_seconds=known, batch_overhead=HATCHET_OVERHEAD, spread=128)
    assert (chosen.size, chosen.n_batches) == (512, 2)
    assert math.ceil(chosen.size / 128) * 0.5 == 2.0  # = the ideal, 1,023 × 0.5 s ÷ 256
    assert "2 slots × 128 processes" in chosen.why


def test_item_12_01_spread_batches_still_respect_the_batch_time_bound() -> None:
    # 10,000 one-minute specs on 4 slots × 50 processes: a batch is at most 10 minutes of wall.
    chosen = plan(10_000, slots=4, spec_seconds=60.0, batch_overhead=HATCHET_OVERHEAD, spread=50)
    assert math.ceil(chosen.size / 50) * 60 <= MAX_BATCH_SECONDS
    assert chosen.n_batches % 4 == 0


def test_item_12_01_a_million_trivial_specs_stay_bounded_batches() -> None:
    chosen = plan(10**6, slots=2, spec_seconds=2e-5, batch_overhead=0.02)
    assert chosen.size == MAX_BATCH
    assert chosen.n_batches == 1000  # as before: the final gather reads 1,000 shards, not 10^6 files
    many = plan(10**6, slots=256, spec_seconds=2e-5, batch_overhead=HATCHET_OVERHEAD)
    assert many.n_batches <= 1024


def test_item_12_01_without_slots_the_old_64_batches_are_the_fallback() -> None:
    chosen = plan(64_000, slots=None, spec_seconds=None, batch_overhead=HATCHET_OVERHEAD)
    assert chosen.n_batches == 4 * batching.FALLBACK_SLOTS
    assert "assumed" in chosen.why


def test_item_12_01_a_run_records_its_spec_time_and_the_next_run_uses_it(tmp_path: Path) -> None:
    store = tmp_path / "store"
    design = [{"x": float(i), "mode": "slow"} for i in range(8)]  # 50 ms a spec
    first = allocate(square, design, store=str(store), workers=2, progress=False)
    assert "spec time unknown" in first.batches
    recorded = batching.recorded_spec_seconds(LocalStore(store), "square")
    assert recorded is not None
    assert 0.04 <= recorded <= 1.0  # 50 ms of sleep plus the per-spec bookkeeping
    second = allocate(square, design * 40, store=str(store), workers=2, progress=False)
    assert re.search(r"2 slots, ~\d+ ms a spec", second.batches), second.batches
    manifest = read_manifest(LocalStore(store), find_run(LocalStore(store), second.run.run_id))
    assert manifest.n_batches % 2 == 0  # whole waves of the two workers


def test_item_12_01_scythe_run_says_how_it_cut_the_run(tmp_path: Path, cli_env: dict[str, str]) -> None:
    design = tmp_path / "d.csv"
    design.write_text("x\n" + "\n".join(str(20 + i) for i in range(40)) + "\n")  # x == 13 fails
    proc = scythe(
        ["run", "sample_experiments:square", "-d", str(design), "-s", "store", "-w", "2", "-q"],
        cli_env,
        tmp_path,
        check=True,
    )
    assert re.search(r"^batches  \d+ of ≤ \d+ specs \(2 slots, spec time unknown\)$", proc.stdout, re.M), (
        proc.stdout
    )
    given = scythe(
        ["run", "sample_experiments:square", "-d", str(design), "-s", "store", "--batch-size", "7", "-q"],
        cli_env,
        tmp_path,
        check=True,
    )
    assert "batches  6 of ≤ 7 specs (as given)" in given.stdout
