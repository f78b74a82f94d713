"""Two allocations of one experiment version in the same second never share a run folder."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from sample_experiments import square

from scythe import LocalStore
from scythe.run import allocation as alloc
from scythe.run.layout import new_run_id
from scythe.run.manifest import read_manifest

SAME_SECOND = datetime(2026, 11, 26, 5, 0, 0, tzinfo=UTC)


def test_a_claim_is_granted_once(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    assert store.claim("a/claim.json", b"first")
    assert not store.claim("a/claim.json", b"second")
    assert (tmp_path / "a" / "claim.json").read_bytes() == b"first"


def test_racing_allocations_get_their_own_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both list the version folder before either has written (the race), in the same second."""
    monkeypatch.setattr(alloc, "new_run_id", lambda taken: new_run_id(taken, now=SAME_SECOND))
    monkeypatch.setattr(LocalStore, "children", lambda self, prefix: [])
    store = LocalStore(tmp_path)
    first = alloc.prepare(square, pd.DataFrame({"x": [1.0, 2.0]}), store=store, version="1.0.0")
    second = alloc.prepare(square, pd.DataFrame({"x": [3.0]}), store=store, version="1.0.0")
    assert first.run.run_id == "2026-11-26_05-00-00"
    assert second.run.run_id == "2026-11-26_05-00-01"
    assert read_manifest(store, first.run).n_specs == 2
    assert read_manifest(store, second.run).n_specs == 1


def test_a_failed_allocation_releases_its_run_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(alloc, "write_run", broken)
    store = LocalStore(tmp_path)
    with pytest.raises(OSError, match="disk full"):
        alloc.prepare(square, pd.DataFrame({"x": [1.0]}), store=store, version="1.0.0")
    assert store.list_keys("square") == []


@pytest.mark.parametrize(
    ("code", "status", "granted"), [("PreconditionFailed", 412, False), ("NotImplemented", 501, True)]
)
def test_s3_claim_answers(code: str, status: int, granted: bool) -> None:
    """A taken key is refused; a server without conditional writes gets a plain PUT (boundary faked)."""
    from botocore.stub import Stubber

    from scythe.store import S3Store

    store = S3Store("bucket", "runs", endpoint_url="http://127.0.0.1:9/claim-test")
    with Stubber(store.client) as stub:
        stub.add_client_error("put_object", service_error_code=code, http_status_code=status)
        if granted:
            stub.add_response(
                "put_object", {}, {"Bucket": "bucket", "Key": "runs/a/claim.json", "Body": b"x"}
            )
        assert store.claim("a/claim.json", b"x") is granted
        stub.assert_no_pending_responses()
