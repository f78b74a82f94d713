"""Issue 12 item 1 on the embedded backend: more slots than cores are spec processes, not task
processes. `workers=256` on 2 cores was 256 task processes with a spec process each (512 processes
sharing 2 cores; 5,120 × 1 s specs took 37.8 s of a 20 s ideal); now one task process per core
spreads its batch over `workers ÷ cores` spec processes, as a Hatchet worker's `--processes`."""

from __future__ import annotations

from pathlib import Path

import pytest
from worker_witness import witness

from scythe.backends import embedded
from scythe.results import load
from scythe.run.allocation import allocate
from scythe.run.batching import Capacity
from scythe.settings import ScytheSettings


def test_item_12_01_up_to_a_core_each_a_slot_is_a_task_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embedded, "default_workers", lambda: 4)
    assert [embedded.lanes(w) for w in (1, 3, 4)] == [(1, 1), (3, 1), (4, 1)]
    assert embedded.lanes(256) == (4, 64)
    assert embedded.lanes(10) == (4, 2)  # the plan counts 8 lanes; the pool deals all 10
    assert embedded._sizes(10, 4) == [3, 3, 2, 2]
    backend = embedded.make(ScytheSettings(), workers=256)
    assert backend.capacity(witness) == Capacity(4, spread=64)


def test_item_12_01_one_batch_spreads_over_every_slot(tmp_path: Path) -> None:
    """One batch on `2 × cores` workers: every spec meets a spec of another process (before: one
    task process with one spec process, so no spec met another and one pid ran them all)."""
    slots = 2 * embedded.default_workers()
    rows = [{"x": float(i), "meet": str(tmp_path / "meet")} for i in range(2 * slots)]
    store = tmp_path / "store"
    result = allocate(witness, rows, store=str(store), workers=slots, batch_size=len(rows), progress=False)
    assert result.succeeded == len(rows)
    scalars = load(result.run.prefix, store=str(store))["scalars"]
    assert scalars["met"].all()
    assert scalars["pid"].nunique() == slots


def test_item_12_01_batches_smaller_than_a_lane_keep_a_task_process_per_slot(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`--batch-size 20` on 64 slots spread each batch of 20 over a lane of 32 spec processes:
    1,280 × 1 s specs took 65 s (ideal 20 s). A batch smaller than the spread runs a slot each."""
    monkeypatch.setattr(embedded, "default_workers", lambda: 2)
    assert embedded.lanes(64, batch_size=20) == (64, 1)
    assert embedded.lanes(64, batch_size=32) == (2, 32)
    assert embedded.lanes(64) == (2, 32)
    seen: list[tuple[int, int | None]] = []
    real = embedded.lanes

    def recording(workers: int, batch_size: int | None = None) -> tuple[int, int]:
        seen.append((workers, batch_size))
        return real(workers, batch_size)

    monkeypatch.setattr(embedded, "lanes", recording)
    rows = [{"x": float(i)} for i in range(6)]
    result = allocate(witness, rows, store=str(tmp_path / "s"), workers=8, batch_size=2, progress=False)
    assert result.succeeded == 6
    assert (8, 2) in seen  # the pool is shaped by the run's batch size


def test_item_12_01_a_lane_starts_its_next_batch_while_its_last_specs_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """One task process spreading 2 batches of 4 over 4 spec processes: the 3 that finish their
    part of batch 0 start on batch 1 while batch 0's last spec runs, so a spec of each meets the
    other (run one after the other, batch 0's spec waited alone for batch 1's and met no one).
    With 10 ms specs a batch's spec processes waited 45 ms of every 350 ms for its slowest spec
    and its commit; 51,200 × 100 ms on 256 slots: 24.6-24.9 s -> 23.0-23.7 s (2 cores)."""
    monkeypatch.setattr(embedded, "default_workers", lambda: 1)
    meet = str(tmp_path / "meet")
    first = [{"x": float(i)} for i in range(3)] + [{"x": 3.0, "meet": meet, "by": "name", "name": "first"}]
    second = [{"x": 4.0, "meet": meet, "by": "name", "name": "second"}] + [{"x": 5.0 + i} for i in range(3)]
    store = str(tmp_path / "store")
    result = allocate(witness, first + second, store=store, workers=4, batch_size=4, progress=False)
    assert (result.succeeded, result.failed) == (8, 0)
    scalars = load(result.run.prefix, store=store, flat=True)["scalars"]
    assert scalars.loc[scalars["x"].isin([3.0, 4.0]), "met"].tolist() == [True, True]
    assert scalars["pid"].nunique() == 4  # one task process's 4 spec processes ran them all


def test_item_12_01_a_spec_that_kills_its_process_in_a_lane_fails_alone(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Back-to-back batches keep crash isolation: the segfaulting spec is one WorkerDied row and
    every other spec of its batch and the next lands once."""
    monkeypatch.setattr(embedded, "default_workers", lambda: 1)
    rows = [{"x": float(i), "hold": 0.1} for i in range(12)]
    rows[5] = {"x": 5.0, "how": "segfault"}
    store = str(tmp_path / "store")
    result = allocate(witness, rows, store=store, workers=3, batch_size=6, progress=False)
    assert (result.succeeded, result.failed) == (11, 1)
    frames = load(result.run.prefix, store=store, flat=True)
    assert sorted(frames["scalars"]["x"]) == [float(i) for i in range(12) if i != 5]
    assert frames["errors"]["error_type"].tolist() == ["WorkerDied"]
