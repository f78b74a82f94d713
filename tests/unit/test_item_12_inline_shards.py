"""Issue 12 (fan-out): on a store where a request costs more than its bytes (S3), a batch's small
shards ride in its commit record, so it commits in one PUT and gathers in one GET.

The record's `inline` shards gather to the same tables as files do, within the store's
`inline_bytes` (the rest stay files, scalars first), and damage to one is found, named and
healed like damage to a file. The embedded backend runs on a LocalStore, whose `inline_bytes`
(0) is raised here for the batches re-run in this process; on S3 see
tests/integration/test_s3_store.py.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pandas as pd
import pytest
from sample_experiments import square
from shards import RemoteView, replace_shard, shard_bytes

import scythe
from scythe.run.commits import BatchOutcome, read_outcome
from scythe.run.gather import gather_experiment
from scythe.run.layout import RunRef
from scythe.run.manifest import Manifest, find_run, read_manifest
from scythe.run.task import run_batch
from scythe.store import LocalStore

N_SPECS, BATCH_SIZE = 8, 2
LIMIT = 256 * 1024
SHARDS = ["df-series.pq", "scalars.pq", "timings.pq"]  # square's: its scalars, a frame, timings


def _files_run(store: Path) -> tuple[LocalStore, RunRef, Manifest]:
    design = pd.DataFrame({"x": [float(i) for i in range(N_SPECS)]})
    result = scythe.allocate(
        square, design, store=str(store), batch_size=BATCH_SIZE, workers=1, progress=False
    )
    assert (result.succeeded, result.failed) == (N_SPECS, 0)
    local = LocalStore(store)
    run = find_run(local, result.run.prefix)
    return local, run, read_manifest(local, run)


def _rerun(
    local: LocalStore, run: RunRef, batch: int, limit: int, monkeypatch: pytest.MonkeyPatch
) -> BatchOutcome:
    """Batch `batch` run again from scratch, in this process, on a store that inlines `limit` bytes."""
    monkeypatch.setattr(LocalStore, "inline_bytes", limit)
    local.delete_prefix(run.key(f"scatter-gather/results/{batch:06d}/"))
    run_batch(run, batch)
    record = read_outcome(local, run, batch)
    assert record is not None
    return record


def _batch_files(local: LocalStore, run: RunRef, batch: int) -> list[str]:
    return sorted(
        k.rsplit("/", 1)[-1] for k in local.list_keys(run.key(f"scatter-gather/results/{batch:06d}/"))
    )


def test_a_record_within_the_limit_carries_its_shards_and_gathers_the_same_tables(
    store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local, run, manifest = _files_run(store)
    assert _batch_files(local, run, 2) == ["_SUCCESS.json", *SHARDS]
    as_files = {
        name: pd.read_parquet(store / run.prefix / "final" / f"{name}.pq") for name in ("scalars", "series")
    }
    for batch in range(manifest.n_batches):
        record = _rerun(local, run, batch, LIMIT, monkeypatch)
        assert sorted(record.inline) == SHARDS
        assert _batch_files(local, run, batch) == ["_SUCCESS.json"]  # one write commits the batch
    for view in (local, RemoteView(store)):  # read where they are, and downloaded
        shutil.rmtree(store / run.prefix / "final")
        summary = gather_experiment(view, run, manifest)  # type: ignore[arg-type]
        assert (summary.succeeded, summary.failed) == (N_SPECS, 0)
        for name, table in as_files.items():
            pd.testing.assert_frame_equal(pd.read_parquet(store / run.prefix / "final" / f"{name}.pq"), table)
        assert len(pd.read_parquet(store / run.prefix / "final" / "timings.pq")) == N_SPECS


def test_shards_past_the_limit_stay_files_scalars_first(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    local, run, manifest = _files_run(store)
    scalars = len(local.get_bytes(run.shard(2, "scalars.pq")))
    record = _rerun(local, run, 2, scalars, monkeypatch)  # room for the scalars, not the timings too
    assert sorted(record.inline) == ["scalars.pq"]
    assert _batch_files(local, run, 2) == ["_SUCCESS.json", "df-series.pq", "timings.pq"]
    assert _rerun(local, run, 2, 0, monkeypatch).inline == {}
    shutil.rmtree(store / run.prefix / "final")
    assert gather_experiment(local, run, manifest).succeeded == N_SPECS


def test_a_damaged_inline_shard_is_named_and_one_resume_heals_it(
    store: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    local, run, _ = _files_run(store)
    _rerun(local, run, 2, LIMIT, monkeypatch)
    data = shard_bytes(local, run, 2, "scalars.pq")
    replace_shard(local, run, 2, "scalars.pq", data[: len(data) // 2])
    shutil.rmtree(store / run.prefix / "final")
    with caplog.at_level(logging.WARNING, logger="scythe"):
        result = scythe.resume(run.prefix, store=str(store), workers=1, progress=False)
    assert (result.succeeded, result.failed) == (N_SPECS, 0)
    [warning] = [r.getMessage() for r in caplog.records if r.name.startswith("scythe")]
    assert "batch 2: scatter-gather/results/000002/scalars.pq (in _SUCCESS.json) is truncated" in warning
    scalars = pd.read_parquet(store / run.prefix / "final" / "scalars.pq")
    assert list(scalars["y"]) == [float(i) ** 2 for i in range(N_SPECS)]
