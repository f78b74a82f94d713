"""Find, load and download the results of runs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from pydantic import BaseModel

from scythe.run.layout import FINAL, RunRef
from scythe.run.manifest import find_run, list_runs, read_manifest
from scythe.settings import get_settings
from scythe.store import Store, local_copy, open_store


class RunInfo(BaseModel):
    run: RunRef
    n_specs: int | None
    complete: bool
    tables: list[str]


def _store(store: str | None) -> Store:
    settings = get_settings()
    return open_store(store or settings.store_uri(), settings.s3_endpoint_url)


def runs(store: str | None = None) -> list[RunInfo]:
    """Every run in the store, oldest first, with what it has gathered."""
    target = _store(store)
    infos = []
    for ref in list_runs(target):
        tables = [k.rsplit("/", 1)[-1].removesuffix(".pq") for k in target.list_keys(ref.key(FINAL))]
        try:
            n_specs: int | None = read_manifest(target, ref).n_specs
        except Exception:
            n_specs = None
        infos.append(RunInfo(run=ref, n_specs=n_specs, complete="scalars" in tables, tables=tables))
    return sorted(infos, key=lambda i: (i.run.run_id, i.run.prefix))


def load(run: str, store: str | None = None, tables: list[str] | None = None) -> dict[str, pd.DataFrame]:
    """The final tables of `run` (experiment/version/run_id or run id) as DataFrames, by name."""
    target = _store(store)
    ref = find_run(target, run)
    frames = {}
    for key in target.list_keys(ref.key(FINAL)):
        name = key.rsplit("/", 1)[-1].removesuffix(".pq")
        if tables is None or name in tables:
            with local_copy(target, key) as path:
                frames[name] = pd.read_parquet(path)
    return frames


def download(run: str, dest: Path, store: str | None = None) -> list[Path]:
    """Copy the run's manifest, schemas, design and final tables into `dest`/<run id>/."""
    target = _store(store)
    ref = find_run(target, run)
    wanted = ["manifest.yml", "experiment_io_spec.yml", "input_artifacts.yml", "specs.pq"]
    keys = [ref.key(k) for k in wanted if target.exists(ref.key(k))] + target.list_keys(ref.key(FINAL))
    written = []
    for key in keys:
        path = dest / ref.run_id / key.removeprefix(ref.prefix + "/")
        target.get_file(key, path)
        written.append(path)
    return written
