"""Which runs a store holds, and what each one has gathered so far."""

from __future__ import annotations

from pydantic import BaseModel

from scythe.run.layout import FINAL, RunRef
from scythe.run.manifest import list_runs, read_manifest
from scythe.settings import ScytheSettings, get_settings
from scythe.store import Store


class RunInfo(BaseModel):
    run: RunRef
    n_specs: int | None
    complete: bool
    tables: list[str]


def open_results_store(store: str | None, settings: ScytheSettings | None = None) -> Store:
    """`store` if given, else the one the settings name."""
    return (settings or get_settings()).open_store(store)


def final_tables(store: Store, run: RunRef) -> dict[str, str]:
    """The run's final tables: name → key."""
    keys = store.list_keys(run.key(FINAL))
    return {k.rsplit("/", 1)[-1].removesuffix(".pq"): k for k in keys}


def runs(store: str | None = None) -> list[RunInfo]:
    """Every run in the store, oldest first, with what it has gathered."""
    target = open_results_store(store)
    infos = []
    for ref in list_runs(target):
        tables = list(final_tables(target, ref))
        try:
            n_specs: int | None = read_manifest(target, ref).n_specs
        except Exception:
            n_specs = None
        infos.append(RunInfo(run=ref, n_specs=n_specs, complete="scalars" in tables, tables=tables))
    return sorted(infos, key=lambda i: (i.run.run_id, i.run.prefix))
