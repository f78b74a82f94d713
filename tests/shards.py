"""A committed batch's shard, read or replaced wherever its record keeps it: inline in the
record (`BatchOutcome.inline`, on object stores) or as a file beside it. For damage tests."""

from __future__ import annotations

from pathlib import Path

from scythe.run.commits import read_outcome
from scythe.run.layout import COMMIT, RunRef
from scythe.store import LocalStore, Store


def shard_bytes(store: Store, run: RunRef, batch: int, file: str) -> bytes:
    record = read_outcome(store, run, batch)
    assert record is not None, f"batch {batch} has no commit record"
    return record.inline[file] if file in record.inline else store.get_bytes(run.shard(batch, file))


def replace_shard(store: Store, run: RunRef, batch: int, file: str, data: bytes) -> None:
    record = read_outcome(store, run, batch)
    assert record is not None, f"batch {batch} has no commit record"
    if file in record.inline:
        record.inline[file] = data
        store.put_bytes(run.shard(batch, COMMIT), record.model_dump_json().encode())
    else:
        store.put_bytes(run.shard(batch, file), data)


class RemoteView:
    """A LocalStore seen as a remote store (not a LocalStore): gather downloads every shard."""

    def __init__(self, root: Path) -> None:
        self.local = LocalStore(root)

    def __getattr__(self, name: str) -> object:
        return getattr(self.local, name)
