"""Issue 14, item 1: per-spec timings (final/timings.pq, beside the outputs, same index) and a
run summary (final/summary.json: started/finished, counts, specs/s, backend and workers)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from sample_experiments import crasher, stubborn

from scythe import allocate
from scythe.run.commits import GatherSummary
from scythe.run.gather import gather_experiment
from scythe.run.manifest import read_manifest
from scythe.store import LocalStore


def _final(store: Path, prefix: str) -> Path:
    return store / prefix / "final"


def test_item_01_timings_hold_one_row_per_spec_with_all_attempts_and_its_process(store: Path) -> None:
    # stubborn fails x == 13 on each of its 3 attempts; slow mode sleeps 50 ms an attempt.
    design = pd.DataFrame({"x": [float(10 + i) for i in range(8)], "mode": ["slow"] * 8})
    result = allocate(stubborn, design, store=str(store), version="1.0.0", progress=False, workers=2)
    final = _final(store, result.run.prefix)
    timings = pd.read_parquet(final / "timings.pq")
    scalars = pd.read_parquet(final / "scalars.pq")
    errors = pd.read_parquet(final / "errors.pq")

    # The bookkeeping levels join it to every table (not the inputs: they may be named `seconds`).
    assert list(timings.index.names) == ["experiment_id", "sort_index", "root_workflow_run_id"]
    assert "seconds" not in scalars.columns
    assert len(timings) == 8
    assert timings.index.get_level_values("sort_index").tolist() == list(range(8))
    by_status = timings.reset_index().groupby("status")["sort_index"].apply(set)
    assert by_status["failed"] == set(errors.index.get_level_values("sort_index"))
    assert by_status["ok"] == set(scalars.index.get_level_values("sort_index"))
    failed = timings[timings["status"] == "failed"].iloc[0]
    assert failed["attempts"] == 3
    assert failed["seconds"] >= 3 * 0.05
    ok = timings[timings["status"] == "ok"]
    assert (ok["attempts"] == 1).all()
    assert (ok["seconds"] >= 0.05).all()
    assert (timings["started"] <= timings["finished"]).all()
    assert (timings["finished"] - timings["started"]).dt.total_seconds().ge(timings["seconds"] - 0.01).all()
    assert timings["worker"].map(lambda w: bool(re.fullmatch(r".+:\d+", w))).all()
    n_batches = read_manifest(LocalStore(store), result.run).n_batches
    assert timings["batch"].between(0, n_batches - 1).all()
    assert timings["reused_from"].isna().all()
    schema = pq.read_schema(final / "timings.pq")
    assert schema.field("started").type == pa.timestamp("us", tz="UTC")
    assert schema.field("seconds").type == pa.float64()
    assert schema.field("attempts").type == pa.int64()


def test_item_01_an_input_named_like_a_timing_column_still_gathers(store: Path) -> None:
    """`seconds` as a design field made the gather fail (duplicate field names in timings.pq)."""
    from integration.item_12_experiments import unserved

    design = pd.DataFrame({"x": [1.0, 2.0], "seconds": [0.0, 0.01]})
    result = allocate(unserved, design, store=str(store), progress=False, workers=1)
    assert (result.succeeded, result.failed) == (2, 0)
    timings = pd.read_parquet(_final(store, result.run.prefix) / "timings.pq")
    assert timings["status"].tolist() == ["ok", "ok"]


def test_item_01_summary_json_records_the_run(store: Path) -> None:
    design = pd.DataFrame({"x": [float(10 + i) for i in range(8)], "mode": ["slow"] * 8})
    result = allocate(stubborn, design, store=str(store), version="1.0.0", progress=False, workers=2)
    final = _final(store, result.run.prefix)
    summary = GatherSummary.model_validate_json((final / "summary.json").read_bytes())
    timings = pd.read_parquet(final / "timings.pq")
    manifest = read_manifest(LocalStore(store), result.run)

    assert (summary.succeeded, summary.failed, summary.reused) == (7, 1, 0)
    assert summary.started == manifest.created_at
    assert summary.started is not None
    assert summary.finished is not None
    assert summary.started <= timings["started"].min()
    assert timings["finished"].max() <= summary.finished
    assert summary.wall_seconds == round((summary.finished - summary.started).total_seconds(), 6)
    assert summary.wall_seconds is not None
    assert summary.specs_per_second is not None
    assert abs(summary.specs_per_second * summary.wall_seconds - 8) < 0.01
    assert summary.backend == "embedded"
    assert summary.workers == sorted(timings["worker"].unique())
    assert summary.files["timings"].endswith("/final/timings.pq")


def test_item_01_older_summaries_still_validate() -> None:
    old = {"succeeded": 3, "failed": 0, "files": {"scalars": "file:///x/final/scalars.pq"}}
    summary = GatherSummary.model_validate_json(json.dumps(old))
    assert summary.started is None
    assert summary.workers is None
    assert summary.reused is None


def test_item_01_a_spec_that_kills_its_process_still_has_a_timings_row(store: Path) -> None:
    design = pd.DataFrame({"x": [5.0, 6.0, 7.0, 8.0]})  # crasher os._exit()s at x == 7
    result = allocate(crasher, design, store=str(store), version="1.0.0", progress=False, workers=1)
    timings = pd.read_parquet(_final(store, result.run.prefix) / "timings.pq").reset_index()
    assert len(timings) == 4
    died = timings[timings["sort_index"] == 2].iloc[0]  # x == 7.0
    assert died["status"] == "failed"
    assert re.fullmatch(r".+:\d+", died["worker"])
    assert pd.notna(died["started"])
    assert died["started"] <= died["finished"]


def test_item_01_gathering_again_gives_the_same_timings_and_summary_bytes(store: Path) -> None:
    design = pd.DataFrame({"x": [float(i) for i in range(6)]})
    result = allocate(stubborn, design, store=str(store), version="1.0.0", progress=False, workers=2)
    final = _final(store, result.run.prefix)
    before = {p.name: p.read_bytes() for p in final.iterdir()}
    target = LocalStore(store)
    gather_experiment(target, result.run, read_manifest(target, result.run))
    assert {p.name: p.read_bytes() for p in final.iterdir()} == before
    assert {"timings.pq", "summary.json"} <= set(before)


def test_item_01_the_hatchet_gather_tasks_output_is_json_with_the_new_fields(store: Path) -> None:
    from scythe.backends.hatchet.tasks import gather_run

    result = allocate(
        stubborn, pd.DataFrame({"x": [1.0, 2.0]}), store=str(store), version="1.0.0", progress=False
    )
    target = LocalStore(store)
    (store / result.run.prefix / "scatter-gather" / "gathered.json").unlink()  # gathered by the task
    for output in (gather_run(target, result.run), gather_run(target, result.run)):  # gathers, then reads
        assert json.loads(json.dumps(output))["started"] == output["started"]
        assert output["workers"]
