"""Copying a run's description and final tables out of the store into a local folder.

Keys come from listing the store, and an S3 key may hold `..` or start with `/`, so every key's
destination is checked to lie inside DEST/<run id>/ before the first file is copied: a hostile
key refuses the whole download rather than writing outside DEST or leaving half a copy.
"""

from __future__ import annotations

from pathlib import Path

from scythe.errors import ScytheError
from scythe.results.catalog import REPORT, final_tables, open_results_store
from scythe.run.layout import INPUT_ARTIFACTS, IO_SPEC, MANIFEST, SPECS, RunRef
from scythe.run.manifest import find_run

DESCRIBED_BY = (MANIFEST, IO_SPEC, INPUT_ARTIFACTS, SPECS, REPORT)


def download(run: str, dest: Path, store: str | None = None) -> list[Path]:
    """Copy the run's manifest, schemas, design, final tables and report into `dest`/<run id>/."""
    target = open_results_store(store)
    ref = find_run(target, run)
    keys = [ref.key(k) for k in DESCRIBED_BY if target.exists(ref.key(k))]
    keys += list(final_tables(target, ref).values())
    root = dest / ref.run_id
    paths = [(key, _inside(root, ref, key)) for key in keys]  # all checked before any is written
    for key, path in paths:
        target.get_file(key, path)
    return [path for _, path in paths]


def _inside(root: Path, ref: RunRef, key: str) -> Path:
    """Where `key` goes under `root`, or a ScytheError naming the key if it would land elsewhere."""
    relative = key.removeprefix(ref.prefix + "/")
    segments = relative.split("/")  # not PurePosixPath.parts, which drop "." and "//"
    why = None
    if relative == key:
        why = f"it is not under the run's prefix {ref.prefix}/"
    elif relative.startswith("/"):
        why = "it is an absolute path"
    elif "\\" in relative:
        why = "it contains a backslash"
    elif any(segment in ("", ".", "..") for segment in segments):
        why = "it has empty, '.' or '..' segments"
    path = root / relative
    if why is None and not path.resolve().is_relative_to(root.resolve()):
        why = "it resolves outside the destination"
    if why is not None:
        raise ScytheError(f"refusing to download store key {key!r}: {why}; nothing was downloaded")
    return path
