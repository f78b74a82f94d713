"""Who triggers the gather on Hatchet: the batch whose commit completes the run, whatever the order."""

from __future__ import annotations

import itertools
from pathlib import Path

import pandas as pd
import pytest
from sample_experiments import square

from scythe import LocalStore
from scythe.backends.hatchet.tasks import all_committed
from scythe.errors import ScytheError
from scythe.run.allocation import prepare
from scythe.run.gather import gather
from scythe.run.layout import RunRef
from scythe.run.manifest import read_manifest
from scythe.run.task import run_batch


def _run(store: Path, n_batches: int) -> tuple[LocalStore, RunRef]:
    local = LocalStore(store)
    design = pd.DataFrame({"x": [float(i) for i in range(n_batches)]})
    return local, prepare(square, design, store=local, batch_size=1).run


@pytest.mark.parametrize("order", list(itertools.permutations(range(4))))
def test_only_the_last_commit_sees_the_run_complete(store: Path, order: tuple[int, ...]) -> None:
    local, run = _run(store, 4)
    seen = []
    for batch in order:
        run_batch(run, batch)
        seen.append(all_committed(local, run, batch))
    assert seen == [False, False, False, True]


def test_a_single_batch_completes_its_run(store: Path) -> None:
    local, run = _run(store, 1)
    run_batch(run, 0)
    assert all_committed(local, run, 0)


def test_gather_refuses_an_incomplete_run_and_writes_nothing(store: Path) -> None:
    local, run = _run(store, 3)
    for batch in (0, 2):
        run_batch(run, batch)
    manifest = read_manifest(local, run)
    with pytest.raises(ScytheError, match=r"1 of 3 batches have no result yet \(first: 1\)"):
        gather(local, run, manifest, square.input_spec.index_fields())
    assert not (store / run.prefix / "final").exists()
