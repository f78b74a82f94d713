"""A run's final tables as pandas DataFrames (pandas is imported here, on first load only)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from scythe.results.catalog import final_tables, open_results_store
from scythe.run.manifest import find_run
from scythe.store import local_copy

if TYPE_CHECKING:
    import pandas as pd


def load(run: str, store: str | None = None, tables: list[str] | None = None) -> dict[str, pd.DataFrame]:
    """The final tables of `run` (experiment/version/run_id or run id) as DataFrames, by name."""
    import pandas as pd

    target = open_results_store(store)
    ref = find_run(target, run)
    frames = {}
    for name, key in final_tables(target, ref).items():
        if tables is None or name in tables:
            with local_copy(target, key) as path:
                frames[name] = pd.read_parquet(path)
    return frames
