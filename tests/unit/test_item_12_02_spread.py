"""Issue 12 item 2, the scheduler alone: a batch spreads over every spec process no other batch
holds, gives borrowed ones back when another batch waits, and a crash or an overrun still fails
only its own spec. As a Hatchet worker runs it: task threads sharing a pool of fork-server
processes (`isolation.use_processes`), here without an engine or a store."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from worker_witness import witness_request

from scythe.dev.processes import wait_until
from scythe.run import isolation
from scythe.run.execute import SpecJob, SpecOutcome
from scythe.run.spec_pool import SpecPool


@pytest.fixture
def two_processes(monkeypatch: pytest.MonkeyPatch) -> Iterator[SpecPool[Any]]:
    """This process as a worker with two spec processes (restored afterwards)."""
    isolation.preload(["worker_witness"])
    pool: SpecPool[Any] = SpecPool(isolation._start, 2)
    monkeypatch.setattr(isolation, "_pool", pool)
    monkeypatch.setattr(isolation, "_threaded", True)
    yield pool
    pool.close()


def jobs(rows: list[dict[str, Any]]) -> list[SpecJob]:
    return [SpecJob(i, {"x": float(i), **row}, {"sort_index": i}) for i, row in enumerate(rows)]


def run(batch: list[SpecJob], hard_limit: float = 30) -> dict[int, SpecOutcome]:
    return isolation.run_isolated(batch, witness_request, (), hard_limit=hard_limit, on_log=lambda _: None)


def scalars(outcomes: dict[int, SpecOutcome]) -> dict[int, dict[str, Any]]:
    return {p: o.scalars for p, o in outcomes.items() if o.scalars is not None}


def overlapping(rows: list[dict[str, Any]]) -> bool:
    """Whether two specs of different processes ran at the same time."""
    return any(
        a["pid"] != b["pid"] and a["started"] < b["ended"] and b["started"] < a["ended"]
        for a in rows
        for b in rows
    )


def test_one_batch_runs_in_every_spec_process_at_once(two_processes: SpecPool[Any], tmp_path: Path) -> None:
    done = scalars(run(jobs([{"meet": str(tmp_path)}] * 8)))
    assert sorted(done) == list(range(8))
    assert len({row["pid"] for row in done.values()}) == 2
    assert all(row["met"] for row in done.values())
    assert overlapping(list(done.values()))


def test_batches_at_once_share_the_processes_and_never_start_more(
    two_processes: SpecPool[Any], tmp_path: Path
) -> None:
    results: list[dict[int, SpecOutcome]] = []
    threads = [
        threading.Thread(target=lambda: results.append(run(jobs([{"meet": str(tmp_path)}] * 6))))
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert [sorted(scalars(r)) for r in results] == [list(range(6))] * 3
    assert len({row["pid"] for r in results for row in scalars(r).values()}) == 2


def test_a_waiting_batch_gets_a_borrowed_process_back_mid_batch(
    two_processes: SpecPool[Any], tmp_path: Path
) -> None:
    """The first batch holds both processes, its specs waiting to meet the second batch: the second
    gets the borrowed process back while the first still runs (a later spec of the first then
    meets it), not once the first is done (then none would)."""
    meet = tmp_path / "meet"
    first: list[dict[int, SpecOutcome]] = []
    rows = [{"meet": str(meet), "by": "name", "name": "first"}] * 6
    long = threading.Thread(target=lambda: first.append(run(jobs(rows))))
    long.start()
    wait_until(lambda: len(announced(meet, "first")) == 2, "the first batch in both processes", timeout=60)
    second = run(jobs([{"meet": str(meet), "by": "name", "name": "second"}]))
    long.join(120)
    [late] = scalars(second).values()
    done = list(scalars(first[0]).values())
    assert len(done) == 6
    assert any(row["met"] for row in done)
    assert late["pid"] in {row["pid"] for row in done}


def announced(folder: Path, name: str) -> set[str]:
    """The pids that announced `name` in a meeting folder."""
    if not folder.is_dir():
        return set()
    return {p.name.split("--")[1] for p in folder.iterdir() if p.name.startswith(f"{name}--")}


def test_a_segfault_and_an_overrun_fail_alone_in_a_spread_batch(
    two_processes: SpecPool[Any], tmp_path: Path
) -> None:
    rows: list[dict[str, Any]] = [{} for _ in range(8)]
    rows[0] = rows[4] = {"meet": str(tmp_path), "hold": 0.5}  # the first spec of each share
    rows[1], rows[5] = {"how": "segfault"}, {"how": "swallow"}
    outcomes = run(jobs(rows), hard_limit=1.0)
    errors = {p: o.error for p, o in outcomes.items() if o.error is not None}
    assert {p: e["error_type"] for p, e in errors.items()} == {1: "WorkerDied", 5: "Timeout"}
    assert "signal 11 (SIGSEGV)" in errors[1]["message"]
    done = scalars(outcomes)
    assert sorted(done) == [0, 2, 3, 4, 6, 7]
    assert [done[0]["met"], done[4]["met"]] == [True, True]
    assert overlapping([done[0], done[4]])


def test_a_process_freed_mid_batch_takes_specs_at_once(two_processes: SpecPool[Any], tmp_path: Path) -> None:
    """Another batch holds the second process while this one starts: the specs are dealt for both
    processes all the same, so when it is handed back it starts a spec while the first still runs
    (the first spec meets it). Dealt over the one process held at the start, the whole batch went
    to it and the freed process waited until that request was split after the spec it was on."""
    held = two_processes.borrow()
    assert held is not None
    meet = tmp_path / "meet"
    results: list[dict[int, SpecOutcome]] = []
    batch = threading.Thread(target=lambda: results.append(run(jobs([{"meet": str(meet)}] * 4))))
    batch.start()
    wait_until(lambda: meet.is_dir() and any(meet.iterdir()), "the batch's first spec", timeout=60)
    two_processes.give_back(held, keep=True)
    batch.join(120)
    done = scalars(results[0])
    assert sorted(done) == list(range(4))
    assert done[0]["met"]
    assert len({row["pid"] for row in done.values()}) == 2
