"""A run's final tables as pandas DataFrames (pandas is imported here, on first load only)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scythe.results.catalog import final_tables, open_results_store
from scythe.run.manifest import find_run
from scythe.store import local_copy

if TYPE_CHECKING:
    import pandas as pd


def load(run: str, store: str | None = None, tables: list[str] | None = None) -> dict[str, pd.DataFrame]:
    """The final tables of `run` (experiment/version/run_id or run id) as DataFrames, by name;
    `scalars` and `errors` are always there once the run is gathered (empty where no spec
    succeeded or failed)."""
    import pandas as pd

    target = open_results_store(store)
    ref = find_run(target, run)
    frames = {}
    for name, key in final_tables(target, ref).items():
        if tables is None or name in tables:
            with local_copy(target, key) as path:
                frames[name] = pd.read_parquet(path)
    if "scalars" in frames and "errors" not in frames and (tables is None or "errors" in tables):
        frames["errors"] = _no_errors(frames["scalars"].index)
    return frames


ERROR_COLUMNS = {"error_type": "object", "message": "object", "traceback": "object", "attempts": "int64"}


def _no_errors(index: pd.Index[Any]) -> pd.DataFrame:
    """An empty errors table with the run's index: every spec succeeded."""
    import pandas as pd

    empty = pd.DataFrame({name: pd.Series(dtype=kind) for name, kind in ERROR_COLUMNS.items()})
    return empty.set_index(pd.MultiIndex.from_arrays([[] for _ in index.names], names=index.names))
