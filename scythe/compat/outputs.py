"""A one-spec run's output read back: scythe-engine's single-spec `ref.result()`.

Upstream triggers the runnable directly for one spec and its ref's `result()` is what the
runnable returned. Here one spec is a run like any other (scalars.pq, file refs, frames), so the
output is rebuilt from those final tables: what `result()` gives is exactly what was stored, and
a run of one stays loadable, resumable and listed like every run.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from scythe.errors import ScytheError
from scythe.registry import Experiment
from scythe.results.catalog import final_tables
from scythe.run.allocation import RunResult
from scythe.run.execute import RESERVED_FRAMES, json_text_fields
from scythe.run.manifest import read_manifest
from scythe.settings import get_settings
from scythe.specs import ExperimentOutputSpec
from scythe.store import Store, local_copy


def spec_output(result: RunResult, experiment: Experiment[Any, Any]) -> ExperimentOutputSpec:
    """The output of the run's one spec, validated as the experiment's output spec; if the spec
    failed, a `ScytheError` naming its error (as upstream's `result()` raises the task's)."""
    store = get_settings().open_store(result.run.store)
    tables = {name: key for name, key in final_tables(store, result.run).items() if key.endswith(".pq")}
    errors = _rows(store, tables["errors"]) if "errors" in tables else []
    if errors:
        raise ScytheError(
            f"{experiment.name}: its spec failed ({errors[0]['error_type']}: {errors[0]['message']}); "
            f"the traceback is in {result.run.prefix}/final/errors.pq"
        )
    out: type[ExperimentOutputSpec] = experiment.output_spec
    (scalars,) = _rows(store, tables["scalars"])
    values = {name: scalars.get(name) for name in out.scalar_fields()}
    for name in json_text_fields(out):
        text = values[name]
        if isinstance(text, str):
            values[name] = json.loads(text)
    refs = _rows(store, tables["result_file_refs"])[0] if "result_file_refs" in tables else {}
    values |= {name: refs[name] for name in out.file_fields() if refs.get(name) is not None}
    index = experiment.input_spec.index_fields(read_manifest(store, result.run).computed_features)
    frames = {
        name: _own_frame(store, key, index) for name, key in tables.items() if name not in RESERVED_FRAMES
    }
    return out.model_validate({**values, "dataframes": frames})


def _rows(store: Store, key: str) -> list[dict[str, Any]]:
    # pyarrow, not pandas: ints stay ints and nulls None, as the output spec validates them
    with local_copy(store, key) as path:
        rows: list[dict[str, Any]] = pq.read_table(path).to_pylist()
    return rows


def _own_frame(store: Store, key: str, index: list[str]) -> pd.DataFrame:
    """A dataframe as the spec returned it: the spec's index levels dropped, its own kept."""
    with local_copy(store, key) as path:
        frame = pd.read_parquet(path)
    spec_levels = [name for name in frame.index.names if name in index]
    return frame.reset_index(level=spec_levels, drop=True) if spec_levels else frame
