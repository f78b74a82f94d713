"""Issue 12 item 1 on the real stack: the slots and spec processes allocation plans for are the
ones the engine reports for the workers serving the experiment, under the client's namespace
(every test here runs in a namespace of its own, as a shared engine's users do).

A worker started with more processes than cores takes one slot per core and spreads each batch
over the rest, so a run of it is a few large batches, not one per process."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from integration.conftest import Stack
from integration.item_12_workers import Workers, workers  # noqa: F401 (the fixture)
from scythe import allocate
from scythe.backends import get_backend
from scythe.backends.hatchet import client
from scythe.backends.hatchet.client import RunTasks
from scythe.backends.hatchet.worker import usable_cores
from scythe.dev.processes import wait_until
from scythe.run import allocation
from scythe.run.batching import Capacity
from scythe.run.layout import RunRef
from scythe.settings import get_settings

PROCESSES = 8


def settled_tasks(run: RunRef, since: datetime) -> RunTasks:
    """The run's tasks once none is queued or running: the summary the client waits for is
    written before the task that gathered reports its completion."""
    engine = client.connect()
    found: list[RunTasks] = []

    def settled() -> bool:
        found.append(client.run_tasks(engine, run, since))
        return not found[-1].live()

    wait_until(settled, f"no task of {run.prefix} queued or running", timeout=60)
    return found[-1]


def test_item_12_01_allocation_plans_for_the_workers_the_engine_reports(
    stack_env: Stack,
    workers: Workers,  # noqa: F811
) -> None:
    from worker_witness import witness

    backend = get_backend("hatchet", get_settings())
    assert backend.capacity(witness) is None  # no worker yet: the run would queue on a fallback
    workers.start("worker_witness:witness", "--processes", str(PROCESSES))
    slots = min(PROCESSES, usable_cores())
    expected = Capacity(slots=slots, spread=PROCESSES // slots)
    wait_until(lambda: backend.capacity(witness) == expected, f"the engine to report {expected}", timeout=60)

    design = [{"x": float(i)} for i in range(4 * PROCESSES)]
    result = allocate(witness, design, store=stack_env.store("capacity"), backend="hatchet", progress=False)
    assert (result.succeeded, result.failed) == (4 * PROCESSES, 0)
    shown = f"{slots} slots × {PROCESSES // slots} processes" if slots < PROCESSES else f"{slots} slots,"
    assert shown in result.batches, result.batches
    assert int(result.batches.split()[0]) % slots == 0  # whole waves of the reported slots


def test_item_12_01_a_run_of_few_batches_starts_without_a_scatter_task(
    stack_env: Stack,
    workers: Workers,  # noqa: F811
) -> None:
    """The client triggers a run of ≤ 1,000 batches itself, batch 0 as the root: no scatter task
    holds a slot the engine then hands to the next batch only at its next tick (the second of 2
    batches started 1.4 s after the first); every row names batch 0's workflow run as its root.
    Nor is there a gather task: the batch that commits last claims the gather and runs it."""
    from worker_witness import witness

    from scythe.backends.base import TaskCounts
    from scythe.backends.hatchet.client import RootRecord
    from scythe.results import load
    from scythe.run.layout import GATHER_CLAIM, HATCHET_ROOT
    from scythe.run.manifest import read_manifest
    from scythe.store import open_store

    workers.start("worker_witness:witness", "--processes", "2")
    uri = stack_env.store("no-scatter")
    design = [{"x": float(i)} for i in range(8)]
    result = allocate(witness, design, store=uri, backend="hatchet", batch_size=2, progress=False)
    assert (result.succeeded, result.failed) == (8, 0)
    store = open_store(uri)
    manifest = read_manifest(store, result.run)
    tasks = settled_tasks(result.run, manifest.created_at)
    assert (tasks.scatter.completed, tasks.scatter.running, tasks.scatter.queued) == (0, 0, 0)
    assert tasks.batch.completed == 4
    assert tasks.gather == TaskCounts()  # the last batch to commit gathered the run in its own task
    assert store.get_bytes(result.run.key(GATHER_CLAIM)) in {b"0", b"1", b"2", b"3"}
    root = RootRecord.model_validate_json(store.get_bytes(result.run.key(HATCHET_ROOT)))
    roots = set(load(result.run.prefix, store=uri)["scalars"].index.get_level_values("root_workflow_run_id"))
    assert roots == {root.root_workflow_run_id}


def test_item_12_01_a_run_of_more_batches_than_the_factor_keeps_its_scatter_tree(
    stack_env: Stack,
    workers: Workers,  # noqa: F811
) -> None:
    """Beyond `factor` batches (1,000 by default; 2 here) the run's root is a scatter task whose
    tree triggers the batches: every row names that scatter as its root."""
    from worker_witness import witness

    from scythe.backends.base import RecursionMap, TaskCounts
    from scythe.backends.hatchet.client import RootRecord
    from scythe.results import load
    from scythe.run.layout import HATCHET_ROOT
    from scythe.run.manifest import read_manifest
    from scythe.store import open_store

    workers.start("worker_witness:witness", "--processes", "2")
    uri = stack_env.store("scatter-tree")
    design = [{"x": float(i)} for i in range(8)]
    shape = RecursionMap(factor=2, max_depth=2)
    result = allocate(
        witness, design, store=uri, backend="hatchet", batch_size=2, recursion_map=shape, progress=False
    )
    assert (result.succeeded, result.failed) == (8, 0)
    store = open_store(uri)
    manifest = read_manifest(store, result.run)
    tasks = settled_tasks(result.run, manifest.created_at)
    assert tasks.scatter.completed >= 1
    assert tasks.batch.completed == 4
    assert tasks.gather == TaskCounts()
    root = RootRecord.model_validate_json(store.get_bytes(result.run.key(HATCHET_ROOT)))
    roots = set(load(result.run.prefix, store=uri)["scalars"].index.get_level_values("root_workflow_run_id"))
    assert roots == {root.root_workflow_run_id}


def test_item_12_01_runs_of_one_id_in_two_stores_are_two_runs_to_hatchet(
    stack_env: Stack,
    workers: Workers,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A run id is unique within its store only: one experiment version's runs created in the
    same second in two stores share it. Hatchet tells their tasks apart by the store too (the CI
    of session 10 counted 6 batch tasks for a run of 4: another store's run of 2 had its id)."""
    from worker_witness import witness

    from scythe.backends.base import TaskCounts

    workers.start("worker_witness:witness", "--processes", "2")
    monkeypatch.setattr(allocation, "new_run_id", lambda taken: "2026-12-04_12-00-00")
    since = datetime.now(UTC)
    runs = [
        allocate(
            witness, design, store=stack_env.store(name), backend="hatchet", batch_size=2, progress=False
        )
        for name, design in (("twin-a", [{"x": 1.0}] * 8), ("twin-b", [{"x": 2.0}] * 2))
    ]
    assert runs[0].run.prefix == runs[1].run.prefix
    assert runs[0].run.store != runs[1].run.store
    assert settled_tasks(runs[1].run, since).batch == TaskCounts(completed=1)
    assert settled_tasks(runs[0].run, since).batch == TaskCounts(completed=4)
