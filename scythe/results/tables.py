"""A run's final tables as pandas DataFrames (pandas is imported here, on first load only).

`load` reads one run, `load_all` every gathered run of an experiment version, concatenated under
a `run_id` level: the dataset a sweep grew in several runs (a design extended, failures re-run)
is one frame. Both type the columns by the run's io spec (`scythe.results.tidy`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scythe.errors import ScytheError
from scythe.results.catalog import final_tables, open_results_store
from scythe.results.tidy import field_kinds, tidy
from scythe.run.layout import RunRef, is_run_id, is_store_name, store_name
from scythe.run.manifest import LATEST, find_run
from scythe.run.versions import format_version, parse_version
from scythe.store import Store, local_copy

if TYPE_CHECKING:
    import pandas as pd

RUN_ID = "run_id"  # the level `load_all` puts first


def load(
    run: str, store: str | None = None, tables: list[str] | None = None, *, flat: bool = False
) -> dict[str, pd.DataFrame]:
    """The final tables of `run` as DataFrames, by name; `scalars` and `errors` are always there
    once the run is gathered (empty where no spec succeeded or failed).

    `run`: experiment/version/run_id, a run id or a unique prefix of one, `latest` or
    `EXPERIMENT@latest`. Enum fields load as categoricals. `flat=True` gives every index level
    as a column (no `reset_index()` needed) and each file input's name in `<field>_name`.
    """
    target = open_results_store(store)
    ref = find_run(target, run)
    kinds = field_kinds(target, ref)
    frames = _read(target, ref, tables)
    return {name: tidy(frame, kinds, scalars=name == "scalars", flat=flat) for name, frame in frames.items()}


def load_all(
    experiment: str,
    version: str | None = None,
    store: str | None = None,
    tables: list[str] | None = None,
    *,
    flat: bool = False,
) -> dict[str, pd.DataFrame]:
    """Every gathered run of `experiment` at `version` (default: its newest version with one),
    each table concatenated in run order under a first index level (or column) `run_id`.

    Runs not yet gathered are left out; typed by the newest run's io spec, as `load` does.
    """
    import pandas as pd

    target = open_results_store(store)
    runs = gathered_runs(target, experiment, version)
    loaded = {ref.run_id: _read(target, ref, tables) for ref in runs}
    names = list(dict.fromkeys(name for frames in loaded.values() for name in frames))
    kinds = field_kinds(target, runs[-1])
    combined = {}
    for name in names:
        parts = {run_id: frames[name] for run_id, frames in loaded.items() if name in frames}
        frame = pd.concat(list(parts.values()), keys=list(parts), names=[RUN_ID])
        combined[name] = tidy(frame, kinds, scalars=name == "scalars", flat=flat)
    return combined


def gathered_runs(store: Store, experiment: str, version: str | None) -> list[RunRef]:
    """The gathered runs of one version, oldest first; one line when there are none."""
    experiment = store_name(experiment, "an experiment")
    versions = [v for v in store.children(experiment) if is_store_name(v)]
    if not versions:
        raise ScytheError(f"no runs of experiment {experiment!r} in {store.uri}")
    wanted = [_version(version, versions)] if version not in (None, LATEST) else _newest_first(versions)
    for chosen in wanted:
        runs = [
            RunRef(store=store.uri, experiment=experiment, version=chosen, run_id=r)
            for r in sorted(store.children(f"{experiment}/{chosen}"))
            if is_run_id(r)
        ]
        gathered = [ref for ref in runs if "scalars" in final_tables(store, ref)]
        if gathered:
            return gathered
    which = wanted[0] if len(wanted) == 1 else "any version"
    raise ScytheError(
        f"no gathered run of {experiment} {which} in {store.uri}: `scythe results list` shows its runs"
    )


def _version(given: str | None, versions: list[str]) -> str:
    """`given` as the store names it (`1.2.0` → `v1.2.0`), if the store has it."""
    name = format_version(parse_version(given)) if given and given[0].isdigit() else str(given)
    if name not in versions:
        raise ScytheError(f"no version {given!r} of this experiment here: {', '.join(sorted(versions))}")
    return name


def _newest_first(versions: list[str]) -> list[str]:
    def order(name: str) -> tuple[int, tuple[int, int, int], str]:
        try:
            return 1, parse_version(name), name
        except ScytheError:
            return 0, (0, 0, 0), name  # not MAJOR.MINOR.PATCH: older than any that is

    return sorted(versions, key=order, reverse=True)


def _read(target: Store, ref: RunRef, tables: list[str] | None) -> dict[str, pd.DataFrame]:
    """The run's final tables as stored, with an empty errors table where no spec failed."""
    import pandas as pd

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
