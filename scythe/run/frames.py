"""A spec's returned dataframes as Arrow shards: checked names, the spec's index in front.

Split from `scythe.run.execute` (which runs in the spec process too) to keep each module to one
job; everything here runs per spec, once its output validated.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pyarrow as pa

from scythe.run.layout import MAX_NAME, is_store_name

#: Final tables Scythe writes itself: a user's dataframe may not take their names.
RESERVED_FRAMES = frozenset({"scalars", "result_file_refs", "errors", "timings"})


def frame_name(name: str) -> str:
    """The name becomes df-<name>.pq and final/<name>.pq: refused per spec here, not when the
    batch's shard or the run's gather is written."""
    bad = name in RESERVED_FRAMES or not name.replace("_", "").replace("-", "").isalnum()
    if bad or not is_store_name(f"df-{name}.pq"):
        raise ValueError(
            f"dataframe name {name!r} is not allowed: use ASCII letters, digits, '-' or '_' "
            f"(at most {MAX_NAME - 6} characters), and none of {sorted(RESERVED_FRAMES)}"
        )
    return name


def prefixed(frame: pd.DataFrame, index: dict[str, Any]) -> pa.Table:
    """The user's frame as Arrow, with the spec's index in front of its own index levels."""
    flat = frame.reset_index() if _meaningful_index(frame) else frame.reset_index(drop=True)
    table = pa.Table.from_pandas(flat, preserve_index=False).replace_schema_metadata(None)
    clash = set(index) & set(table.column_names)
    if clash:
        raise ValueError(f"dataframe columns {sorted(clash)} clash with the spec's index levels")
    for position, (name, value) in enumerate(index.items()):
        table = table.add_column(position, name, pa.array([value] * len(table)))
    return table


def _meaningful_index(frame: pd.DataFrame) -> bool:
    return not (isinstance(frame.index, pd.RangeIndex) and frame.index.name is None)


def user_index(frame: pd.DataFrame) -> list[str]:
    return [str(n) for n in frame.index.names] if _meaningful_index(frame) else []
