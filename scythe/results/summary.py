"""A run at a glance in the terminal: its outputs' spread, counts, wall time and top errors.

`scythe results show RUN` and the end of `scythe run` print it. The point of a sweep is its
outputs, so they come first (min / median / max per output field), then how the run went, then
the errors grouped by message, and last where the files are: a plain path for a local store (one
a shell can `cd` to), the URI only for S3. Everything is fitted to the console's width: long
messages and paths are cut with an ellipsis, never wrapped into a wall of text.

`RunData` (what a run has gathered, read once) and `error_groups` are shared with the HTML report
in `scythe.results.report`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from scythe.results.catalog import final_tables, gather_summary, open_results_store
from scythe.run.layout import FINAL, RunRef
from scythe.run.manifest import Manifest, find_run, read_manifest
from scythe.store import LocalStore, Store, local_copy

if TYPE_CHECKING:
    import pandas as pd
    from rich.console import Console, RenderableType

BOOKKEEPING = ("experiment_id", "sort_index", "root_workflow_run_id")  # index levels that are not inputs
SUMMARY_TABLES = ("scalars", "errors", "timings")


@dataclass
class RunData:
    """What a run has gathered, as the summary and the report read it (only the tables they need)."""

    ref: RunRef
    manifest: Manifest | None
    facts: dict[str, Any]  # the gather's summary (GatherSummary as a dict); {} before it is gathered
    scalars: pd.DataFrame
    errors: pd.DataFrame
    timings: pd.DataFrame | None  # None for runs gathered before timings were recorded
    final: str = ""  # where final/ is, for a person: a plain path for a local store
    tables: list[str] = field(default_factory=list)  # the final tables the run has

    @property
    def inputs(self) -> list[str]:
        """The design's fields and computed features: the scalars' index levels after the bookkeeping."""
        return [str(name) for name in self.scalars.index.names if name not in BOOKKEEPING]

    @property
    def outputs(self) -> list[str]:
        return [str(name) for name in self.scalars.columns]


def where(store: Store, key: str) -> str:
    """`key` as a person reads it: a filesystem path for a local store, else the store's URI."""
    return str(store.root / key) if isinstance(store, LocalStore) else store.uri_for(key)


def read_run(run: str, store: str | None = None) -> RunData:
    """Read what `scythe results show|report` need of `run`: scalars, errors, timings, the counts."""
    import pandas as pd

    target = open_results_store(store)
    ref = find_run(target, run)
    manifest = read_manifest(target, ref)  # a damaged one is one line naming it
    gathered = gather_summary(target, ref)
    keys = final_tables(target, ref)
    frames: dict[str, pd.DataFrame] = {}
    for name in SUMMARY_TABLES:
        if name in keys:
            with local_copy(target, keys[name]) as path:
                frames[name] = pd.read_parquet(path)
    empty = pd.DataFrame()
    return RunData(
        ref=ref,
        manifest=manifest,
        facts=gathered.model_dump() if gathered is not None else {},
        scalars=frames.get("scalars", empty),
        errors=frames.get("errors", empty),
        timings=frames.get("timings"),
        final=where(target, ref.key(FINAL)),
        tables=sorted(name for name, key in keys.items() if key.endswith(".pq")),
    )


@dataclass(frozen=True)
class OutputStats:
    """One output field's spread: numeric fields get min / median / max, others their top value."""

    name: str
    count: int
    missing: int
    low: float | None = None
    median: float | None = None
    high: float | None = None
    top: str | None = None  # non-numeric fields: the commonest value and its count


def describe_outputs(scalars: pd.DataFrame) -> list[OutputStats]:
    """Per output field, in the output spec's order: how many values, how spread."""
    import pandas as pd

    stats = []
    for name in scalars.columns:
        column = scalars[name]
        present = column.dropna()
        if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
            values = pd.to_numeric(present)
            spread: dict[str, Any] = {}
            if len(values):
                spread = {
                    "low": float(values.min()),
                    "median": float(values.median()),
                    "high": float(values.max()),
                }
            stats.append(OutputStats(str(name), len(present), len(column) - len(present), **spread))
        else:
            counts = present.astype(str).value_counts()
            top = f"{counts.index[0]} ({counts.iloc[0]})" if len(counts) else None
            stats.append(OutputStats(str(name), len(present), len(column) - len(present), top=top))
    return stats


@dataclass(frozen=True)
class ErrorGroup:
    """Failed specs that raised the same error type (and, grouped by message, the same message)."""

    error_type: str
    message: str  # the first line of the first spec's message
    count: int
    traceback: str
    first_spec: int | None  # the sort_index of the first spec in the group
    messages: int = 1  # distinct first lines in the group


def error_groups(errors: pd.DataFrame, by_message: bool = True, limit: int | None = None) -> list[ErrorGroup]:
    """The errors grouped by type (and first message line), the commonest first (ties: the one
    whose first spec comes first); the first `limit` groups only."""
    return ranked_errors(errors, by_message, limit)[0]


def ranked_errors(
    errors: pd.DataFrame, by_message: bool = True, limit: int | None = None
) -> tuple[list[ErrorGroup], int]:
    """`error_groups`, and how many groups there are in all. Counted by one groupby, no Python loop
    over specs: a million failures, each with its own message, take about a second."""
    if errors.empty:
        return [], 0
    frame = _keyed(errors)
    keys = ["_type", "_line"] if by_message else ["_type"]
    frame["_pos"] = range(len(frame))
    grouped = frame.groupby(keys, sort=False)
    ranked = grouped["_pos"].agg(["size", "min"]).reset_index()
    ranked["_distinct"] = 1 if by_message else grouped["_line"].nunique().to_numpy()
    ranked = ranked.sort_values(["size", "min"], ascending=[False, True]).iloc[:limit]  # ties: first seen
    groups = []
    for row in ranked.to_dict("records"):
        first = frame.iloc[int(row["min"])]
        spec = first.get("sort_index")
        groups.append(
            ErrorGroup(
                error_type=str(row["_type"]),
                message=str(first["_line"]),
                count=int(row["size"]),
                traceback=str(first.get("traceback", "") or ""),
                first_spec=int(spec) if spec is not None else None,
                messages=int(row["_distinct"]),
            )
        )
    return groups, grouped.ngroups


def _first_lines(messages: pd.Series[Any]) -> list[str]:
    """Each message's first non-blank line, in Arrow's C++ kernels: a million in a fraction of a
    second, where a Python `str.split` per message takes seconds."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pc.utf8_trim_whitespace(pa.array(messages.fillna("").astype(str), pa.string()))
    return list(pc.replace_substring_regex(text, pattern=r"(?s)\n.*", replacement="").to_pylist())


def _keyed(errors: pd.DataFrame) -> pd.DataFrame:
    """The errors, flat, with the grouping keys `_type` and `_line` (the message's first line)."""
    frame = errors.reset_index()
    frame["_line"] = _first_lines(frame["message"]) if "message" in frame else ""
    frame["_type"] = frame["error_type"].astype(str) if "error_type" in frame else "error"
    return frame


def wall_seconds(data: RunData) -> float | None:
    """The run's wall time: the gather's record, else the span of its specs' timings."""
    recorded = data.facts.get("wall_seconds")
    if recorded is not None:
        return float(recorded)
    timings = data.timings
    if timings is None or timings.empty or "started" not in timings:
        return None
    started, finished = timings["started"].dropna(), timings["finished"].dropna()
    if started.empty or finished.empty:
        return None
    return float((finished.max() - started.min()).total_seconds())


def human_seconds(seconds: float) -> str:
    """`0.012` → `12 ms`, `75` → `1 min 15 s`, `5400` → `1 h 30 min`: what a person compares."""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def number(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"


def specs_line(data: RunData) -> str:
    """`200  ok 198  failed 2  (50 of the ok reused)`: the counts, as `scythe run` has always ended."""
    ok, failed = _counts(data)
    n_specs = data.manifest.n_specs if data.manifest is not None else ok + failed
    reused = data.facts.get("reused")
    return f"{n_specs}  ok {ok}  failed {failed}" + (f"  ({reused} of the ok reused)" if reused else "")


def _counts(data: RunData) -> tuple[int, int]:
    return int(data.facts.get("succeeded", len(data.scalars))), int(
        data.facts.get("failed", len(data.errors))
    )


def time_line(data: RunData) -> str | None:
    """`wall 4.2 s · 47.6 specs/s · spec median 10 ms`, or None when the run recorded no times."""
    parts = []
    wall = wall_seconds(data)
    if wall is not None:
        rate = data.facts.get("specs_per_second") or (sum(_counts(data)) / wall if wall > 0 else None)
        parts.append(f"wall {human_seconds(wall)}" + (f" · {rate:.3g} specs/s" if rate else ""))
    spec = data.facts.get("spec_seconds")
    if data.timings is not None and "seconds" in data.timings and data.timings["seconds"].notna().any():
        spec = float(data.timings["seconds"].median())
    if spec is not None:
        parts.append(f"spec median {human_seconds(float(spec))}")
    return " · ".join(parts) or None


def render_summary(data: RunData, *, top_errors: int = 5) -> RenderableType:
    """The summary as one rich renderable, outputs first; tables fit the console they print on."""
    from rich.console import Group
    from rich.text import Text

    parts: list[RenderableType] = []
    stats = describe_outputs(data.scalars) if len(data.scalars) else []
    if stats:
        parts.append(_outputs_table(stats))
    elif not data.facts and data.scalars.empty:
        parts.append(Text("not gathered yet: `scythe status` says how far it got", style="yellow"))
    else:
        parts.append(Text("no spec succeeded: no outputs", style="red"))
    parts.append(Text(f"specs    {specs_line(data)}"))
    timing = time_line(data)
    if timing is not None:
        parts.append(Text(f"time     {timing}"))
    groups, kinds = ranked_errors(data.errors, limit=top_errors)
    if groups:
        parts.append(_errors_lines(groups, len(data.errors), kinds))
    return Group(*parts)


def _outputs_table(stats: list[OutputStats]) -> RenderableType:
    from rich.table import Table
    from rich.text import Text

    outputs = Table("output", "n", "min", "median", "max", box=None, pad_edge=False, header_style="bold")
    outputs.columns[0].overflow = "ellipsis"
    for column in outputs.columns[1:]:
        column.justify = "right"
    for row in stats:
        if row.top is not None:
            outputs.add_row(row.name, str(row.count), Text(f"top: {row.top}", overflow="ellipsis"), "", "")
        else:
            outputs.add_row(row.name, str(row.count), number(row.low), number(row.median), number(row.high))
    return outputs


def _errors_lines(groups: list[ErrorGroup], failed: int, kinds: int) -> RenderableType:
    """`failed   5  ValueError: thirteen is unlucky`, one line per kind, each cut to the width;
    then how many specs the kinds not shown account for."""
    from rich.console import Group
    from rich.text import Text

    rows = [(str(g.count), f"{g.error_type}: {g.message}") for g in groups]
    if kinds > len(groups):
        rows.append(
            (str(failed - sum(g.count for g in groups)), f"… {kinds - len(groups)} more kinds of error")
        )
    digits = max(len(count) for count, _ in rows)
    lines = [
        Text(f"{'failed' if i == 0 else '':<8} {count:>{digits}}  {what}", no_wrap=True, overflow="ellipsis")
        for i, (count, what) in enumerate(rows)
    ]
    return Group(*lines)


def print_summary(console: Console, data: RunData, *, report: str | None = None, title: bool = True) -> None:
    """The summary, then where the files are: paths are printed whole (soft-wrapped by the
    terminal, so they stay one copyable line), never cut to the width like the tables."""
    if title:
        backend = data.facts.get("backend") or (data.manifest.backend if data.manifest else None)
        heading = f"run      {data.ref.prefix}" + (f"  ({backend})" if backend else "")
        console.print(heading, soft_wrap=True, highlight=False)
    console.print(render_summary(data), highlight=False)
    shown = ", ".join(data.tables)
    console.print(
        f"final    {data.final}" + (f"  ({shown})" if shown else ""), soft_wrap=True, highlight=False
    )
    if report is not None:
        console.print(f"report   {report}", soft_wrap=True, highlight=False)
