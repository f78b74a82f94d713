"""`scythe results list|show|download`: finding and reading what runs produced."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from rich.text import Text

from scythe.cli.app import RunArg, StoreOpt, app, friendly, hinted, out, warn
from scythe.errors import ScytheError

if TYPE_CHECKING:
    from scythe.results import RunInfo

results_app = typer.Typer(help="Find, show and download the results of runs.", no_args_is_help=True)
app.add_typer(results_app, name="results")


@results_app.command("list")
@friendly
def results_list(store: StoreOpt = None) -> None:
    """List the runs in the store."""
    from scythe.results import runs

    table = Table("experiment", "version", "run", "specs", "gathered")
    for info in runs(store):
        table.add_row(
            info.run.experiment,
            info.run.version,
            info.run.run_id,
            str(info.n_specs or "?"),
            _gathered(info),
        )
    out.print(table)


def _gathered(info: RunInfo) -> str | Text:
    if not info.complete:
        return Text("not yet", style="yellow")
    if info.summary is None:
        return ", ".join(info.tables)
    counts = f"gathered, {info.summary.succeeded} ok / {info.summary.failed} failed: {', '.join(info.tables)}"
    return Text(counts, style="red") if info.summary.failed and not info.summary.succeeded else counts


@results_app.command("show")
@friendly
def results_show(
    run_id: RunArg,
    table: Annotated[
        str | None,
        typer.Option(
            help=hinted(
                "Print the head of this final table (scalars, errors, timings, a dataframe's name).",
                default="the run's summary: outputs' min/median/max, counts, wall time, top errors",
            )
        ),
    ] = None,
    rows: Annotated[int, typer.Option(help="Rows to print with --table.")] = 10,
    store: StoreOpt = None,
) -> None:
    """Print a run's summary, fitted to the terminal; or, with --table, the head of a final table."""
    if table is None:
        from scythe.results.summary import print_summary, read_run

        data = read_run(run_id, store)
        print_summary(out, data)
        if data.facts and data.scalars.empty:
            warn(f"no spec of this run succeeded: `scythe results show {run_id} --table errors` says why")
        return
    _show_table(run_id, table, rows, store)


def _show_table(run_id: str, table: str, rows: int, store: str | None) -> None:
    import pandas as pd

    from scythe.results import load

    frames = load(run_id, store, tables=[table])
    if table not in frames:
        raise ScytheError(f"run {run_id} has no final table {table!r}")
    frame = frames[table]
    with pd.option_context("display.width", out.width, "display.max_columns", 20):
        out.print(f"{table}: {len(frame)} rows × {frame.shape[1]} columns", highlight=False)
        out.print(frame.head(rows).to_string(), highlight=False, soft_wrap=True)
    if table == "scalars" and frame.empty:
        warn(f"no spec of this run succeeded: `scythe results show {run_id} --table errors` says why")


@results_app.command("report")
@friendly
def results_report(
    run_id: RunArg,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help=hinted(
                "Also write the page here (a file, or a folder for report-RUN.html).",
                default="only the run's folder in the store: final/report.html",
            ),
        ),
    ] = None,
    no_store: Annotated[
        bool, typer.Option("--no-store", help="With -o: do not write final/report.html into the store.")
    ] = False,
    store: StoreOpt = None,
) -> None:
    """Write one self-contained HTML page of a run: summary, output histograms, outputs against
    inputs, failures, spec durations and a timeline (needs the report extra: matplotlib)."""
    from scythe.results.report import write_report

    if no_store and output is None:
        raise ScytheError("--no-store needs -o PATH: the report has to go somewhere")
    for place in write_report(run_id, store, output, into_store=not no_store):
        out.print(place, highlight=False, soft_wrap=True)


@results_app.command("download")
@friendly
def results_download(
    run_id: RunArg,
    dest: Annotated[Path, typer.Argument(help="Folder to download into (a RUN subfolder is made).")] = Path(),
    store: StoreOpt = None,
) -> None:
    """Download a run's manifest, schemas, design and final tables."""
    from scythe.results import download

    for path in download(run_id, dest, store):
        out.print(str(path), highlight=False)
