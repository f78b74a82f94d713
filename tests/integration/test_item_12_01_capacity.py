"""Issue 12 item 1 on the real stack: the slots and spec processes allocation plans for are the
ones the engine reports for the workers serving the experiment, under the client's namespace
(every test here runs in a namespace of its own, as a shared engine's users do).

A worker started with more processes than cores takes one slot per core and spreads each batch
over the rest, so a run of it is a few large batches, not one per process."""

from __future__ import annotations

from integration.conftest import Stack
from integration.item_12_workers import Workers, workers  # noqa: F401 (the fixture)
from scythe import allocate
from scythe.backends import get_backend
from scythe.backends.hatchet.worker import usable_cores
from scythe.dev.processes import wait_until
from scythe.run.batching import Capacity
from scythe.settings import get_settings

PROCESSES = 8


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
