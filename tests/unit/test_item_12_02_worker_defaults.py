"""Issue 12 item 2 without services: how many spec processes and slots `scythe worker` takes.

One per usable core by default, where "usable" is what the process may run on: its CPU affinity,
capped by a container's CPU quota (a pod limited to 1.5 CPUs on a bigger node gets 2)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from scythe.backends.hatchet import worker


@pytest.mark.parametrize(
    ("given", "counts"),
    [((None, 4), (4, 4)), ((3, None), (3, 3)), ((2, 8), (2, 8)), ((6, 1), (6, 1)), ((256, None), (256, 4))],
)
def test_item_12_02_either_count_alone_sets_both(
    given: tuple[int | None, int | None], counts: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--slots N` alone: N of each; `--processes N` alone: N processes, at most a slot per core
    (a slot's batch work shares the worker's one process; its specs spread over the processes)."""
    monkeypatch.setattr(worker, "usable_cores", lambda: 4)
    assert worker.worker_counts(*given) == counts


def test_item_12_02_neither_means_one_process_per_usable_core(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker, "usable_cores", lambda: 4)
    assert worker.worker_counts(None, None) == (4, 4)
    monkeypatch.setattr(worker, "usable_cores", lambda: 16)
    assert worker.worker_counts(None, None) == (15, 15)  # one core left to the worker itself


@pytest.mark.parametrize(
    ("cpu_max", "cap"),
    [("150000 100000\n", 2), ("100000 100000\n", 1), ("max 100000\n", None)],
)
def test_item_12_02_a_container_quota_caps_the_cores(
    cpu_max: str, cap: int | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "cpu.max").write_text(cpu_max)
    monkeypatch.setattr(worker, "CGROUP", tmp_path)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(64)))
    assert worker.usable_cores() == (cap or 64)
