"""Copying a run's description and final tables out of the store into a local folder."""

from __future__ import annotations

from pathlib import Path

from scythe.results.catalog import final_tables, open_results_store
from scythe.run.layout import INPUT_ARTIFACTS, IO_SPEC, MANIFEST, SPECS
from scythe.run.manifest import find_run

DESCRIBED_BY = (MANIFEST, IO_SPEC, INPUT_ARTIFACTS, SPECS)


def download(run: str, dest: Path, store: str | None = None) -> list[Path]:
    """Copy the run's manifest, schemas, design and final tables into `dest`/<run id>/."""
    target = open_results_store(store)
    ref = find_run(target, run)
    keys = [ref.key(k) for k in DESCRIBED_BY if target.exists(ref.key(k))]
    keys += list(final_tables(target, ref).values())
    written = []
    for key in keys:
        path = dest / ref.run_id / key.removeprefix(ref.prefix + "/")
        target.get_file(key, path)
        written.append(path)
    return written
