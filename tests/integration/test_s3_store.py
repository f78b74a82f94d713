"""S3Store against a real S3-compatible server (SeaweedFS)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sample_experiments import reporter, square

from integration.conftest import Stack
from scythe import allocate
from scythe.errors import StoreError
from scythe.results import download, load
from scythe.run.commits import read_outcome
from scythe.run.manifest import find_run
from scythe.store import open_store, staged_write


def test_store_interface_round_trips(stack_env: Stack, tmp_path: Path) -> None:
    store = open_store(stack_env.store("unit"))
    store.put_bytes("a/b/c.txt", b"hello")
    assert store.get_bytes("a/b/c.txt") == b"hello"
    assert store.exists("a/b/c.txt")
    assert not store.exists("a/b/missing.txt")
    with pytest.raises(StoreError, match="missing from the store"):
        store.get_bytes("a/b/missing.txt")
    with pytest.raises(StoreError, match="missing from the store"):
        store.get_file("a/b/missing.txt", tmp_path / "never.txt")
    assert list(tmp_path.iterdir()) == []  # no partial download left behind
    assert store.claim("a/claim.json", b"first")  # create-if-absent: what keeps run ids unique
    assert not store.claim("a/claim.json", b"second")
    assert store.get_bytes("a/claim.json") == b"first"
    big = tmp_path / "big.bin"
    big.write_bytes(b"x" * (9 * 1024 * 1024))  # multipart upload
    store.put_file("a/big.bin", big)
    store.get_file("a/big.bin", tmp_path / "copy.bin")
    assert (tmp_path / "copy.bin").read_bytes() == big.read_bytes()
    with staged_write(store, "a/staged.txt") as path:
        path.write_text("whole")
    assert store.list_keys("a") == ["a/b/c.txt", "a/big.bin", "a/claim.json", "a/staged.txt"]
    assert store.children("a") == ["b", "big.bin", "claim.json", "staged.txt"]
    store.delete_prefix("a")
    assert store.list_keys("a") == []


def test_embedded_run_on_an_s3_store(stack_env: Stack, tmp_path: Path) -> None:
    uri = stack_env.store("embedded")
    design = pd.DataFrame({"x": [float(i) for i in range(20)], "n": [2] * 20})
    result = allocate(square, design, store=uri, workers=2, batch_size=5, progress=False)
    assert (result.succeeded, result.failed) == (19, 1)
    frames = load(result.run.prefix, store=uri)
    assert set(frames) == {"scalars", "errors", "series", "timings"}
    assert len(frames["scalars"]) == 19
    files = download(result.run.run_id, tmp_path / "dl", store=uri)
    assert (tmp_path / "dl" / result.run.run_id / "final" / "scalars.pq") in files
    refs = allocate(reporter, [{"x": 4.0}], store=uri, progress=False).files["result_file_refs"]
    assert refs.startswith(uri)


def test_a_batch_on_s3_commits_its_small_shards_in_its_record(stack_env: Stack) -> None:
    uri = stack_env.store("inline")
    design = pd.DataFrame({"x": [float(i) for i in range(20)], "n": [2] * 20})
    result = allocate(square, design, store=uri, workers=2, batch_size=5, progress=False)
    store = open_store(uri)
    run = find_run(store, result.run.prefix)
    for batch in range(4):  # one PUT each: every shard in the record, no file beside it
        record = read_outcome(store, run, batch)
        assert record is not None
        assert {"scalars.pq", "timings.pq", "df-series.pq"} <= set(record.inline)
        keys = store.list_keys(run.key(f"scatter-gather/results/{batch:06d}/"))
        assert [k.rsplit("/", 1)[-1] for k in keys] == ["_SUCCESS.json"]
    frames = load(result.run.prefix, store=uri)
    assert sorted(frames["scalars"].index.get_level_values("sort_index")) == [i for i in range(20) if i != 13]
    assert set(frames["errors"].index.get_level_values("sort_index")) == {13}
