"""Item 9 on Hatchet: one `resume` heals a damaged committed shard, as on the embedded backend.

The gather task finds the damage, resets the batch and triggers it again; the re-run batch, the
last to commit, triggers the gather that completes the run. The caller's one wait sees it through.
"""

from __future__ import annotations

import pandas as pd
import pytest
from shards import replace_shard, shard_bytes

import scythe
from integration.conftest import Stack
from scythe.results import load
from scythe.run.commits import read_outcome
from scythe.run.layout import FINAL_SUMMARY
from scythe.run.manifest import find_run
from scythe.store import S3Store, open_store

N_SPECS = 8  # four batches of two; batch 2 (sort_index 4, 5) is damaged


@pytest.mark.timeout(240)  # before the fix, the resumed run waited forever for a gather
def test_item_09_one_resume_heals_a_truncated_shard_on_hatchet(stack_env: Stack) -> None:
    from sample_experiments import stubborn

    stack_env.start_worker("sample_experiments:stubborn", slots=2)
    uri = stack_env.store("heal")
    design = pd.DataFrame({"x": [float(i) for i in range(N_SPECS)]})
    result = scythe.allocate(stubborn, design, store=uri, backend="hatchet", batch_size=2, progress=False)
    assert (result.succeeded, result.failed) == (N_SPECS, 0)
    store = open_store(uri)
    run = find_run(store, result.run.prefix)
    assert "scalars.pq" in (read_outcome(store, run, 2) or pytest.fail("no record")).inline  # S3: one PUT
    data = shard_bytes(store, run, 2, "scalars.pq")
    replace_shard(store, run, 2, "scalars.pq", data[: len(data) // 2])
    store.delete_prefix(run.key("final/"))
    assert isinstance(store, S3Store)  # the summary is one key (delete_prefix takes folders)
    store.client.delete_object(Bucket=store.bucket, Key=store._key(run.key(FINAL_SUMMARY)))
    assert not store.exists(run.key(FINAL_SUMMARY))  # so the resumed gather gathers again

    healed = scythe.resume(result.run.prefix, store=uri, progress=False)

    assert (healed.succeeded, healed.failed) == (N_SPECS, 0)
    scalars = load(result.run.prefix, store=uri)["scalars"]
    assert list(scalars.index.get_level_values("sort_index")) == list(range(N_SPECS))
    assert list(scalars["y"]) == [float(i) ** 2 for i in range(N_SPECS)]
