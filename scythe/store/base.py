"""The Store protocol and the whole-file writes every store is built on.

Keys are `/`-separated paths relative to the store's root. Every write is whole or absent: local
files are written beside their target and renamed into place, so readers never see a half file.
May import: `scythe.errors` only.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
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
    """A temp path beside `target`, renamed onto it only if the block succeeds."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)


def atomic_write(target: Path, write: Callable[[Path], object]) -> None:
    with atomic_path(target) as tmp:
        write(tmp)
