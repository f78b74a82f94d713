"""Where a run's files live: a local directory or an S3 bucket + prefix, behind one interface.

Every write is whole or absent: local files are written beside their target and renamed into
place; S3 objects only appear once a (multipart) upload completes. Readers therefore never see a
half file, whatever kills the writer.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlparse

from scythe.errors import StoreError

if TYPE_CHECKING:
    import pyarrow as pa
    from botocore.response import StreamingBody
    from mypy_boto3_s3 import S3Client


class Store(Protocol):
    """Keys are `/`-separated paths relative to the store's root (its `uri`)."""

    @property
    def uri(self) -> str: ...

    def put_bytes(self, key: str, data: bytes) -> None: ...
    def claim(self, key: str, data: bytes) -> bool: ...
    def get_bytes(self, key: str) -> bytes: ...
    def put_file(self, key: str, path: Path) -> None: ...
    def get_file(self, key: str, dest: Path) -> None: ...
    def exists(self, key: str) -> bool: ...
    def list_keys(self, prefix: str) -> list[str]: ...
    def children(self, prefix: str) -> list[str]: ...
    def uri_for(self, key: str) -> str: ...
    def delete_prefix(self, prefix: str) -> None: ...


@contextlib.contextmanager
def _atomic_path(target: Path) -> Iterator[Path]:
    """A temp path beside `target`, renamed onto it only if the block succeeds."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _atomic_local_write(target: Path, write: Callable[[Path], object]) -> None:
    with _atomic_path(target) as tmp:
        write(tmp)


class LocalStore:
    """A directory with exactly the store layout; the default, needing no services."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).expanduser().resolve()

    @property
    def uri(self) -> str:
        return str(self.root)

    def _path(self, key: str) -> Path:
        return self.root / key

    def put_bytes(self, key: str, data: bytes) -> None:
        _atomic_local_write(self._path(key), lambda p: p.write_bytes(data))

    def claim(self, key: str, data: bytes) -> bool:
        """Create `key` only if it does not exist (O_EXCL): False when someone else holds it."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        return True

    def get_bytes(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise StoreError(f"missing from the store: {self.uri_for(key)}") from None

    def put_file(self, key: str, path: Path) -> None:
        _atomic_local_write(self._path(key), lambda p: shutil.copyfile(path, p))

    def get_file(self, key: str, dest: Path) -> None:
        src = self._path(key)
        if not src.is_file():
            raise StoreError(f"missing from the store: {self.uri_for(key)}")
        _atomic_local_write(dest, lambda p: shutil.copyfile(src, p))

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list_keys(self, prefix: str) -> list[str]:
        base = self._path(prefix)
        if not base.is_dir():
            return []
        keys = (
            p.relative_to(self.root).as_posix()
            for p in base.rglob("*")
            if p.is_file() and not p.name.endswith(".part")
        )
        return sorted(keys)

    def children(self, prefix: str) -> list[str]:
        base = self._path(prefix)
        if not base.is_dir():
            return []
        return sorted(p.name for p in base.iterdir() if not p.name.startswith("."))

    def uri_for(self, key: str) -> str:
        return self._path(key).as_uri()

    def delete_prefix(self, prefix: str) -> None:
        shutil.rmtree(self._path(prefix), ignore_errors=True)


_MISSING = ("404", "NoSuchKey", "NotFound")
_TAKEN = ("PreconditionFailed", "ConditionalRequestConflict")  # 412, or 409 for a racing PUT


def _copy_stream(stream: StreamingBody, dest: Path) -> None:
    with dest.open("wb") as out:
        for chunk in stream.iter_chunks(1 << 20):
            out.write(chunk)


@functools.lru_cache(maxsize=8)
def _s3_client(endpoint_url: str | None, access_key: str | None, pid: int) -> S3Client:
    """One thread-safe client per endpoint, credentials and process, shared by every store.

    A worker serves runs under many prefixes, and a client costs ~50 ms to create. Keyed by pid
    because a forked child must not share its parent's connections.
    """
    import boto3
    from botocore.config import Config

    # Retries ride out a server restart of several seconds instead of losing a shard;
    # S3-compatible servers (SeaweedFS, MinIO) want path-style addressing.
    config = Config(
        retries={"max_attempts": 12, "mode": "standard"},
        connect_timeout=5,
        max_pool_connections=32,  # gather, allocation and Hatchet slots share one client
        s3={"addressing_style": "path"} if endpoint_url else {},
    )
    return boto3.client("s3", endpoint_url=endpoint_url, config=config)


class S3Store:
    """Any S3-compatible endpoint (AWS, SeaweedFS, MinIO); credentials come from `AWS_*`."""

    def __init__(self, bucket: str, prefix: str = "", endpoint_url: str | None = None) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        endpoint_url = (
            endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        )
        self.client: S3Client = _s3_client(endpoint_url, os.environ.get("AWS_ACCESS_KEY_ID"), os.getpid())

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def put_bytes(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)

    def claim(self, key: str, data: bytes) -> bool:
        """Create `key` only if it does not exist (a conditional PUT, `If-None-Match: *`)."""
        from botocore.exceptions import ClientError

        try:
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, IfNoneMatch="*")
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in _TAKEN:
                return False
            if code != "NotImplemented":
                raise
            # A server without conditional writes: a plain PUT, as before claims existed.
            self.put_bytes(key, data)
        return True

    def get_bytes(self, key: str) -> bytes:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
        except self.client.exceptions.NoSuchKey:
            raise StoreError(f"missing from the store: {self.uri_for(key)}") from None

    def put_file(self, key: str, path: Path) -> None:
        self.client.upload_file(str(path), self.bucket, self._key(key))

    def get_file(self, key: str, dest: Path) -> None:
        # One streamed GET: boto3's download_file adds a HEAD and a thread pool per call, which
        # dominated gathers of many small shards.
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]
        except self.client.exceptions.NoSuchKey:
            raise StoreError(f"missing from the store: {self.uri_for(key)}") from None
        with body:
            _atomic_local_write(dest, lambda p: _copy_stream(body, p))

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING:
                return False
            raise
        return True

    def _pages(self, prefix: str, delimiter: str | None) -> Iterator[dict[str, object]]:
        full = self._key(prefix).rstrip("/") + "/" if prefix else (self.prefix + "/" if self.prefix else "")
        paginator = self.client.get_paginator("list_objects_v2")
        kwargs: dict[str, str] = {"Bucket": self.bucket, "Prefix": full}
        if delimiter:
            kwargs["Delimiter"] = delimiter
        yield from paginator.paginate(**kwargs)  # type: ignore[arg-type,misc]

    def list_keys(self, prefix: str) -> list[str]:
        strip = len(self.prefix) + 1 if self.prefix else 0
        keys = [
            obj["Key"][strip:]
            for page in self._pages(prefix, None)
            for obj in page.get("Contents", [])  # type: ignore[attr-defined]
        ]
        return sorted(keys)

    def children(self, prefix: str) -> list[str]:
        names: set[str] = set()
        for page in self._pages(prefix, "/"):
            for cp in page.get("CommonPrefixes", []):  # type: ignore[attr-defined]
                names.add(cp["Prefix"].rstrip("/").rsplit("/", 1)[-1])
            for obj in page.get("Contents", []):  # type: ignore[attr-defined]
                names.add(obj["Key"].rsplit("/", 1)[-1])
        return sorted(names)

    def uri_for(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"

    def delete_prefix(self, prefix: str) -> None:
        keys = [self._key(k) for k in self.list_keys(prefix)]
        for i in range(0, len(keys), 1000):
            objects = [{"Key": k} for k in keys[i : i + 1000]]
            self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": objects})  # type: ignore[typeddict-item]


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
        with _atomic_path(store.root / key) as tmp:
            yield tmp
        return
    with tempfile.TemporaryDirectory(prefix="scythe-") as tmp:
        path = Path(tmp) / Path(key).name
        yield path
        store.put_file(key, path)


def put_table(store: Store, key: str, table: pa.Table) -> None:
    """`table` as one Parquet object at `key` (encoded in memory: shards and batch inputs are small)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    store.put_bytes(key, sink.getvalue().to_pybytes())
