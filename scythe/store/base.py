"""The Store protocol and the whole-file writes every store is built on.

Keys are `/`-separated paths relative to the store's root. Every write is whole or absent: local
files are written beside their target and renamed into place, so readers never see a half file.
They get the mode `open()` would give them (0o666 less the umask), so a team's shared directory
store is as readable to teammates as any file they write by hand.
May import: `scythe.errors` only.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol


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
def atomic_path(target: Path) -> Iterator[Path]:
    """A temp path beside `target`, renamed onto it only if the block succeeds.

    The temp file is created here, so its mode is the one the rename publishes; writers open it
    again (truncating) and keep that mode.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _create_beside(target)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
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
