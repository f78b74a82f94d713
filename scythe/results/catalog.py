"""Which runs a store holds, and what each one has gathered so far."""

from __future__ import annotations

from pydantic import BaseModel

from scythe.errors import StoreError
from scythe.run.commits import GatherSummary
from scythe.run.layout import FINAL, FINAL_SUMMARY, RunRef
from scythe.run.manifest import list_runs, read_manifest
from scythe.settings import ScytheSettings, get_settings
from scythe.store import Store


class RunInfo(BaseModel):
    run: RunRef
    n_specs: int | None
    complete: bool
    tables: list[str]
    summary: GatherSummary | None = None  # counts, once gathered


def gather_summary(store: Store, run: RunRef) -> GatherSummary | None:
    """What the run's gather recorded (ok and failed counts), or None before it is gathered."""
    try:
        return GatherSummary.model_validate_json(store.get_bytes(run.key(FINAL_SUMMARY)))
    except StoreError:
        return None


def open_results_store(store: str | None, settings: ScytheSettings | None = None) -> Store:
    """`store` if given, else the one the settings name."""
    return (settings or get_settings()).open_store(store)


REPORT = "final/report.html"  # `scythe results report`'s page, beside the tables it shows


def final_tables(store: Store, run: RunRef) -> dict[str, str]:
    """The run's final tables: name → key (Parquet files only: final/ also holds report.html)."""
    keys = store.list_keys(run.key(FINAL))
    return {k.rsplit("/", 1)[-1].removesuffix(".pq"): k for k in keys if k.endswith(".pq")}


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
        summary = gather_summary(target, ref)
        complete = "scalars" in tables or summary is not None
        infos.append(RunInfo(run=ref, n_specs=n_specs, complete=complete, tables=tables, summary=summary))
    return sorted(infos, key=lambda i: (i.run.run_id, i.run.prefix))
