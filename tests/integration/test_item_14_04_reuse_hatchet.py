"""Issue 14, item 4 on a real Hatchet engine and S3 store: `--reuse` copies through the store
(downloads, not local paths), and a backend that runs every batch, the fully reused ones with
their empty inputs included, still gathers each row once."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from memo_experiments import EXECUTIONS, counted, executed

from integration.conftest import Stack
from scythe import allocate
from scythe.results import load


def design(n: int) -> pd.DataFrame:
    return pd.DataFrame({"x": [i * 0.5 for i in range(n)], "n": [1 + i % 3 for i in range(n)]})


def test_item_04_reuse_on_hatchet_and_s3_executes_only_the_new_specs(
    stack_env: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "executions"
    folder.mkdir()
    monkeypatch.setitem(stack_env.env, EXECUTIONS, str(folder))  # the worker's environment
    stack_env.start_worker("memo_experiments:counted", slots=2)
    try:
        uri = stack_env.store("reuse")
        options = {"store": uri, "backend": "hatchet", "version": "1.0.0", "progress": False, "batch_size": 4}
        allocate(counted, design(30), **options)  # type: ignore[arg-type]
        assert executed(folder) == list(range(30))
        again = allocate(counted, design(40), reuse=True, **options)  # type: ignore[arg-type]
        assert executed(folder) == list(range(30, 40))  # batches 0-6 ran empty, batch 7 is mixed
        assert (again.succeeded, again.failed, again.reused) == (40, 0, 30)
        frames = load(again.run.prefix, store=uri)
    finally:
        stack_env.stop_workers()
    full = allocate(counted, design(40), store=str(tmp_path / "local"), version="1.0.0", progress=False)
    want = load(full.run.prefix, store=str(tmp_path / "local"))
    for table in ("scalars", "series"):
        strip = ["experiment_id", "root_workflow_run_id"]
        got = frames[table].reset_index(strip, drop=True)
        pd.testing.assert_frame_equal(got, want[table].reset_index(strip, drop=True))
    assert frames["timings"]["status"].value_counts().to_dict() == {"reused": 30, "ok": 10}
