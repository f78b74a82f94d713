"""Where a run's files live: a local directory or an S3 bucket + prefix, behind one `Store` protocol.

`open_store(uri)` picks the implementation; the helpers here work with any store. Every write is
whole or absent (write-then-rename locally, completed uploads on S3), whatever kills the writer.
May import: `scythe.errors`, `scythe.settings` (nothing above the store in the run's life).
"""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from scythe.errors import StoreError
from scythe.store.base import Store, atomic_path, atomic_write
from scythe.store.local import LocalStore
from scythe.store.s3 import S3Store

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "LocalStore",
    "S3Store",
    "Store",
    "atomic_path",
    "atomic_write",
    "check_writable",
    "local_copy",
    "open_store",
    "parquet_bytes",
    "put_table",
    "staged_write",
]


def open_store(uri: str, endpoint_url: str | None = None) -> LocalStore | S3Store:
    """`s3://bucket/prefix` or a directory path (created on first write); one per process."""
    return _open_store(uri, endpoint_url, os.getpid())


@functools.lru_cache(maxsize=16)
def _open_store(uri: str, endpoint_url: str | None, pid: int) -> LocalStore | S3Store:
    # Keyed by pid: a forked child must not share its parent's HTTP connections.
    if uri.startswith("s3://"):
        parsed = urlparse(uri)
        if not parsed.netloc:
            raise StoreError(f"an S3 store needs a bucket: s3://BUCKET/prefix, not {uri!r}")
        return S3Store(parsed.netloc, parsed.path, endpoint_url=endpoint_url)
    if "://" in uri:
        raise StoreError(f"unsupported store {uri!r}: use a directory or s3://bucket/prefix")
    return LocalStore(uri)


def check_writable(store: Store) -> None:
    """Refuse a directory store that cannot take a write (read-only, full) before a run starts.

    An S3 store is not probed: a refused upload is already one line (its `StoreError`), and a
    probe there would cost a request for what the run's first write finds out anyway.
    """
    if isinstance(store, LocalStore):
        store.check_writable()


@contextlib.contextmanager
def local_copy(store: Store, key: str) -> Iterator[Path]:
    """A local path to read `key` from: the file itself for a LocalStore, else a temp download."""
    if isinstance(store, LocalStore):
        path = store.root / key
        if not path.is_file():
            raise StoreError(f"missing from the store: {store.uri_for(key)}")
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="scythe-") as tmp:
        dest = Path(tmp) / Path(key).name
        store.get_file(key, dest)
        yield dest


@contextlib.contextmanager
def staged_write(store: Store, key: str) -> Iterator[Path]:
    """Yield a local path for `key`; it reaches the store only if the block succeeds."""
    if isinstance(store, LocalStore):
        with atomic_path(store.root / key) as tmp:
            yield tmp
        return
    with tempfile.TemporaryDirectory(prefix="scythe-") as tmp:
        path = Path(tmp) / Path(key).name
        yield path
        store.put_file(key, path)


def put_table(store: Store, key: str, table: pa.Table) -> None:
    """`table` as one Parquet object at `key` (encoded in memory: shards and batch inputs are small)."""
    store.put_bytes(key, parquet_bytes(table))


def parquet_bytes(table: pa.Table) -> bytes:
    """`table` as the bytes of one Parquet file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return bytes(sink.getvalue().to_pybytes())
