"""The Store protocol and the whole-file writes every store is built on.

Keys are `/`-separated paths relative to the store's root. Every write is whole or absent: local
files are written beside their target and renamed into place, so readers never see a half file.
They get the mode `open()` would give them (0o666 less the umask), so a team's shared directory
store is as readable to teammates as any file they write by hand. A write the filesystem refuses
(full, read-only, not permitted) is one `StoreWriteError` naming the file.
May import: `scythe.errors` only.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol

from scythe.errors import StoreWriteError


class Store(Protocol):
    """Keys are `/`-separated paths relative to the store's root (its `uri`).

    `inline_bytes`: how many bytes of a batch's small shards its commit record may carry instead
    of files beside it (0: every shard is a file); where a request costs more than its bytes.
    """

    inline_bytes: int

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


REFUSED = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM})
"""Errors of a write the filesystem refused: each becomes one `StoreWriteError` naming the file."""
FULL_OR_READ_ONLY = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS})
"""What only a write can cause: a writer's own block (which may also read) is judged by these."""


@contextlib.contextmanager
def refused_write(target: Path, codes: frozenset[int] = REFUSED) -> Iterator[None]:
    """Turn the filesystem refusing a write (disk full, quota, read-only, no permission) into one
    `StoreWriteError` naming `target`, where the user looks, instead of an OSError traceback."""
    try:
        yield
    except OSError as exc:
        if exc.errno in codes:
            raise StoreWriteError(str(target), exc.errno) from exc
        raise


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """A temp path beside `target`, renamed onto it only if the block succeeds.

    The temp file is created here, so its mode is the one the rename publishes; writers open it
    again (truncating) and keep that mode. Whatever fails, the temp file is removed: a disk that
    fills mid-write leaves no partial file (only a filesystem turned read-only meanwhile keeps
    its hidden `.part`, which no listing shows).
    """
    with refused_write(target):
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = _create_beside(target)
    try:
        with refused_write(target, FULL_OR_READ_ONLY):
            yield tmp
        with refused_write(target):
            os.replace(tmp, target)
    finally:
        with contextlib.suppress(OSError):  # EROFS: nothing more can be done about it here
            tmp.unlink(missing_ok=True)


def _create_beside(target: Path) -> Path:
    """A new empty `.<name>.<random>.part` beside `target`, mode 0o666 less the umask.

    Not `tempfile.mkstemp`: it creates 0o600 whatever the umask. The kernel applies the umask
    to `os.open`'s mode itself, so nothing reads or changes the process-wide umask (which
    `os.umask` can only do by setting it, racing other threads). O_EXCL with a random name is
    mkstemp's own guarantee that two writers never share a temp file.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL  # Python adds O_CLOEXEC itself (PEP 446)
    while True:
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.part")
        try:
            os.close(os.open(tmp, flags, 0o666))
        except FileExistsError:  # 48 random bits: a collision is (almost) never retried
            continue
        return tmp


def atomic_write(target: Path, write: Callable[[Path], object]) -> None:
    with atomic_path(target) as tmp:
        write(tmp)
