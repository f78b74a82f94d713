"""scythe-engine's `scythe.utils.filesys`: the `FileReference` type and `fetch_uri`."""

from __future__ import annotations

import shutil
from pathlib import Path

from pydantic import AnyUrl

from scythe.run.artifacts import fetch
from scythe.specs import FileReference

OptionalFileReference = FileReference | None


def fetch_uri(uri: AnyUrl | str | Path, local_path: Path, use_cache: bool = True) -> Path:
    """Fetch `uri` to exactly `local_path` (upstream's signature); cached unless `use_cache=False`."""
    if use_cache and local_path.is_file():
        return local_path
    local_path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(fetch(uri), local_path)
    return local_path


__all__ = ["FileReference", "OptionalFileReference", "fetch_uri"]
