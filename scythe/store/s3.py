"""Any S3-compatible endpoint (AWS, SeaweedFS, MinIO) through boto3; credentials from `AWS_*`.

S3 objects only appear once a (multipart) upload completes, so readers never see a half file.
boto3 is imported when the first S3 store is opened, never by `import scythe`.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Concatenate, ParamSpec, TypeVar

from scythe.errors import StoreError
from scythe.store.base import atomic_write

if TYPE_CHECKING:
    from botocore.response import StreamingBody
    from mypy_boto3_s3 import S3Client


_MISSING = ("404", "NoSuchKey", "NotFound")
_TAKEN = ("PreconditionFailed", "ConditionalRequestConflict")  # 412, or 409 for a racing PUT


P = ParamSpec("P")
R = TypeVar("R")


def _one_line(method: Callable[Concatenate[S3Store, P], R]) -> Callable[Concatenate[S3Store, P], R]:
    """What boto3 raises once its retries are spent (no endpoint, no credentials, a refusal)
    becomes one `StoreError` naming the store, never a botocore traceback."""

    @functools.wraps(method)
    def wrapper(self: S3Store, /, *args: P.args, **kwargs: P.kwargs) -> R:
        from boto3.exceptions import Boto3Error
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return method(self, *args, **kwargs)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise StoreError(
                f"the S3 store {self.uri} refused a request: {error.get('Code')}: {error.get('Message')}"
            ) from exc
        except (BotoCoreError, Boto3Error) as exc:
            raise StoreError(f"cannot use the S3 store {self.uri}: {exc}") from exc

    return wrapper


def _copy_stream(stream: StreamingBody, dest: Path) -> None:
    with dest.open("wb") as out:
        for chunk in stream.iter_chunks(1 << 20):
            out.write(chunk)


_ClientKey = tuple[str | None, str | None]  # endpoint, access key
_clients: dict[tuple[str | None, str | None, int], S3Client] = {}
_for_children: dict[_ClientKey, tuple[int, S3Client]] = {}  # built by a fork server, never used there
_clients_lock = threading.Lock()


def _key(endpoint_url: str | None) -> _ClientKey:
    """What a client is built for: the endpoint an S3 store uses (`endpoint_url`, else
    `AWS_ENDPOINT_URL_S3`/`AWS_ENDPOINT_URL`) and the access key of this environment."""
    endpoint = endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    return endpoint, os.environ.get("AWS_ACCESS_KEY_ID")


def _s3_client(endpoint_url: str | None) -> S3Client:
    """One thread-safe client per endpoint, credentials and process, shared by every store.

    A worker serves runs under many prefixes, and a client costs ~36 ms of CPU to create (~0.3 s
    for the first, which parses botocore's S3 model). Built under a lock: a worker's 8 slots
    opening their first S3 store at once each built one, 1.16 s of CPU under the GIL where one
    costs 0.29 s. Keyed by pid because a forked child must not share its parent's connections;
    a child of a fork server adopts the client the server built for it (`build_for_children`).
    """
    key, pid = _key(endpoint_url), os.getpid()
    with _clients_lock:
        client = _clients.get((*key, pid))
        if client is None:
            built_by, client = _for_children.get(key, (pid, None))
            if client is None or built_by == pid:
                client = _build_client(key[0])
            _clients[(*key, pid)] = client
        return client


def _build_client(endpoint_url: str | None) -> S3Client:
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


def warm_client(endpoint_url: str | None = None) -> None:
    """Build now the client an S3 store of this environment will use (a worker, before its first
    task: its default store may be local while the runs it serves are on S3)."""
    _s3_client(endpoint_url)


def build_for_children(endpoint_url: str | None = None) -> None:
    """In a fork server, before its first fork: build the client its children's S3 stores will
    use, which each adopts instead of building its own. A client holds no connection until its
    first request, and this process never makes one with it, so every child gets a fresh copy.
    Measured: 256 spec processes building their own cost 9.3 s of CPU (36 ms each) in a
    worker's first run on 2 cores."""
    key = _key(endpoint_url)
    with _clients_lock:
        _for_children[key] = (os.getpid(), _build_client(key[0]))


INLINE_BYTES = 256 * 1024
"""How many bytes of a batch's shards its commit record carries itself (`Store.inline_bytes`).

Each request costs ~2 ms of botocore CPU here plus the server's: a batch's scalars and timings
as files were two PUTs more to commit and two GETs more to gather, 4 of its 9 requests."""


class S3Store:
    """Any S3-compatible endpoint (AWS, SeaweedFS, MinIO); credentials come from `AWS_*`."""

    inline_bytes = INLINE_BYTES

    def __init__(self, bucket: str, prefix: str = "", endpoint_url: str | None = None) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.client: S3Client = _s3_client(endpoint_url)

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    @_one_line
    def put_bytes(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)

    @_one_line
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

    @_one_line
    def get_bytes(self, key: str) -> bytes:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
        except self.client.exceptions.NoSuchKey:
            raise StoreError(f"missing from the store: {self.uri_for(key)}") from None

    @_one_line
    def put_file(self, key: str, path: Path) -> None:
        self.client.upload_file(str(path), self.bucket, self._key(key))

    @_one_line
    def get_file(self, key: str, dest: Path) -> None:
        # One streamed GET: boto3's download_file adds a HEAD and a thread pool per call, which
        # dominated gathers of many small shards.
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]
        except self.client.exceptions.NoSuchKey:
            raise StoreError(f"missing from the store: {self.uri_for(key)}") from None
        with body:
            atomic_write(dest, lambda p: _copy_stream(body, p))

    @_one_line
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

    @_one_line
    def list_keys(self, prefix: str) -> list[str]:
        strip = len(self.prefix) + 1 if self.prefix else 0
        keys = [
            obj["Key"][strip:]
            for page in self._pages(prefix, None)
            for obj in page.get("Contents", [])  # type: ignore[attr-defined]
        ]
        return sorted(keys)

    @_one_line
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

    @_one_line
    def delete_prefix(self, prefix: str) -> None:
        keys = [self._key(k) for k in self.list_keys(prefix)]
        for i in range(0, len(keys), 1000):
            objects = [{"Key": k} for k in keys[i : i + 1000]]
            self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": objects})  # type: ignore[typeddict-item]
