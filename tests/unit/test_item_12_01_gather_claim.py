"""Issue 12: the batch that completes a Hatchet run gathers it in its own task (no gather task to
dispatch); batches that commit together must not each gather, and a retry of the claiming batch
(its worker died mid-gather) must be able to gather again."""

from __future__ import annotations

from pathlib import Path

import pytest

from scythe.backends.hatchet.tasks import claim_gather
from scythe.run.layout import RunRef
from scythe.store import LocalStore

pytestmark = pytest.mark.unit


def test_one_batch_claims_the_gather_and_only_it_can_again(tmp_path: Path) -> None:
    store = LocalStore(str(tmp_path / "store"))
    run = RunRef(store=str(tmp_path / "store"), experiment="e", version="v1", run_id="2026-12-03_00-00-00")
    assert claim_gather(store, run, 3)
    assert not claim_gather(store, run, 5)  # committed at the same time: leaves it to batch 3
    assert claim_gather(store, run, 3)  # batch 3's retry
