"""The default store: a directory with exactly the store layout, needing no services."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from pathlib import Path

from scythe.errors import StoreError
from scythe.store.base import atomic_write, refused_write


class LocalStore:
    """A directory with exactly the store layout; the default, needing no services."""

    inline_bytes = 0  # a file here costs next to nothing: every shard stays a file (`Store`)

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).expanduser().resolve()

    @property
    def uri(self) -> str:
        return str(self.root)

    def _path(self, key: str) -> Path:
        return self.root / key

    def put_bytes(self, key: str, data: bytes) -> None:
        atomic_write(self._path(key), lambda p: p.write_bytes(data))

    def claim(self, key: str, data: bytes) -> bool:
        """Create `key` only if it does not exist (O_EXCL): False when someone else holds it.

        Mode 0o666 so the umask decides, as for every other store file (see `atomic_path`).
        """
        path = self._path(key)
        with refused_write(path):
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            except FileExistsError:
                return False
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(data)
            except BaseException:  # a full disk must not leave an empty claim holding the id
                path.unlink(missing_ok=True)
                raise
        return True

    def check_writable(self) -> None:
        """Refuse, before a run starts, a store this process cannot write (a read-only mount, a
        full disk): one byte is written to a probe file and removed again.

        The probe goes into the root, or its nearest existing ancestor while the root does not
        exist yet, so checking never creates the store's folder (a refused design leaves nothing).
        """
        folder = self.root
        while not folder.is_dir() and folder.parent != folder:
            folder = folder.parent
        probe = folder / f".scythe-probe-{secrets.token_hex(6)}"
        with refused_write(self.root):
            try:
                fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                try:
                    os.write(fd, b"\0")
                    os.fsync(fd)  # some filesystems report a full disk only when data reaches it
                finally:
                    os.close(fd)
            finally:
                with contextlib.suppress(OSError):
                    probe.unlink(missing_ok=True)

    def get_bytes(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise StoreError(f"missing from the store: {self.uri_for(key)}") from None

    def put_file(self, key: str, path: Path) -> None:
        atomic_write(self._path(key), lambda p: shutil.copyfile(path, p))

    def get_file(self, key: str, dest: Path) -> None:
        src = self._path(key)
        if not src.is_file():
            raise StoreError(f"missing from the store: {self.uri_for(key)}")
        atomic_write(dest, lambda p: shutil.copyfile(src, p))

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
