"""The `scythe` command: thin, it parses, calls the modules, and renders with rich.

Every user mistake ends as one `error:` line and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from scythe.errors import ScytheError

P = ParamSpec("P")
R = TypeVar("R")

app = typer.Typer(
    help="Scaffold, run and gather embarrassingly parallel experiments.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
results_app = typer.Typer(help="Find, show and download the results of runs.", no_args_is_help=True)
app.add_typer(results_app, name="results")
out = Console()
err = Console(stderr=True)

EXIT_ERROR = 1
EXIT_FAILED_SPECS = 3

StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store", "-s", help="Directory or s3://bucket/prefix [env: SCYTHE_STORE].", show_default=False
    ),
]
WorkersOpt = Annotated[
    int | None,
    typer.Option("--workers", "-w", min=1, help="Processes for the embedded backend [default: CPU count]."),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]
RunArg = Annotated[str, typer.Argument(metavar="RUN", help="experiment/version/run_id, or a run id.")]


def friendly(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn user-caused failures into one line and an exit code."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except ScytheError as exc:
            err.print(f"[bold red]error:[/] {exc}", highlight=False, markup=True, soft_wrap=True)
            raise typer.Exit(EXIT_ERROR) from None
        except ValidationError as exc:  # settings from the environment
            err.print(f"[bold red]error:[/] invalid setting: {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(EXIT_ERROR) from None
        except KeyboardInterrupt:
            err.print("[yellow]interrupted[/]: finished batches are kept; `scythe resume RUN` continues")
            raise typer.Exit(130) from None

    return wrapper


def _parse_fixed(values: list[str]) -> dict[str, Any]:
    import yaml

    fixed = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ScytheError(f"--set takes FIELD=VALUE, not {item!r}")
        fixed[key.strip()] = yaml.safe_load(value) if value else ""
    return fixed


def _report(result: Any) -> None:
    from scythe.allocation import RunResult

    assert isinstance(result, RunResult)
    out.print(f"run      {result.run.prefix}")
    if not result.finished:
        out.print(f"specs    {result.n_specs} submitted; follow with `scythe status {result.run.prefix}`")
        return
    out.print(f"specs    {result.n_specs}  ok {result.succeeded}  failed {result.failed}")
    for name, uri in result.files.items():
        out.print(f"{name:<8} {uri}", soft_wrap=True, highlight=False)
    if result.failed:
        err.print(
            f"[bold red]{result.failed} of {result.n_specs} specs failed[/]: "
            f"see {result.files.get('errors')}",
            soft_wrap=True,
            highlight=False,
        )
        raise typer.Exit(EXIT_FAILED_SPECS)


@app.command()
@friendly
def run(
    experiment: Annotated[
        str | None,
        typer.Argument(help="module:function or a registered name; optional in a one-experiment project."),
    ] = None,
    design: Annotated[
        Path | None, typer.Option("--design", "-d", help="CSV or Parquet file, one row per spec.")
    ] = None,
    sample: Annotated[
        str | None, typer.Option(help="Draw the design instead: lhs or sobol, inside the schema's bounds.")
    ] = None,
    n: Annotated[int, typer.Option("--n", help="Specs to draw with --sample.")] = 100,
    seed: Annotated[int, typer.Option(help="Seed for --sample.")] = 0,
    fixed: Annotated[
        list[str] | None, typer.Option("--set", help="FIELD=VALUE fixed in every sampled row (repeatable).")
    ] = None,
    store: StoreOpt = None,
    workers: WorkersOpt = None,
    version: Annotated[
        str | None,
        typer.Option(
            help="MAJOR.MINOR.PATCH or bumpmajor|bumpminor|bumppatch|keep [default: project version]."
        ),
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option(min=1, help="Specs per task [default: automatic].")
    ] = None,
    backend: Annotated[
        str | None, typer.Option(help="embedded (default) or hatchet [env: SCYTHE_BACKEND].")
    ] = None,
    no_wait: Annotated[
        bool, typer.Option("--no-wait", help="Hatchet: print the run and return once it is submitted.")
    ] = False,
    quiet: QuietOpt = False,
) -> None:
    """Run a design through an experiment and gather the results into final/*.pq.

    Exit codes: 0 all specs succeeded, 1 a usage or setup error (nothing run), 3 some specs failed
    (their errors are in final/errors.pq; every other result is kept).
    """
    from scythe.allocation import allocate
    from scythe.registry import discover_default, load_experiment
    from scythe.sampling import sample_design

    if (design is None) == (sample is None):
        raise ScytheError("give exactly one of --design FILE or --sample lhs|sobol")
    exp = load_experiment(experiment) if experiment else discover_default()
    if sample is not None:
        if sample not in ("lhs", "sobol"):
            raise ScytheError(f"--sample must be lhs or sobol, not {sample!r}")
        rows = sample_design(exp.input_spec, n, sample, seed, _parse_fixed(fixed or []))  # type: ignore[arg-type]
        result = allocate(
            exp,
            rows,
            wait=not no_wait,
            store=store,
            version=version,
            batch_size=batch_size,
            backend=backend,
            workers=workers,
            progress=not quiet,
        )
    else:
        assert design is not None
        result = allocate(
            exp,
            design,
            wait=not no_wait,
            store=store,
            version=version,
            batch_size=batch_size,
            backend=backend,
            workers=workers,
            progress=not quiet,
        )
    _report(result)


@app.command()
@friendly
def resume(
    run_id: RunArg,
    store: StoreOpt = None,
    workers: WorkersOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Finish an interrupted run: only specs without a committed result execute, then gather."""
    from scythe.allocation import resume as resume_run

    _report(resume_run(run_id, store=store, workers=workers, progress=not quiet))


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
            ", ".join(info.tables) if info.complete else "[yellow]not yet[/]",
        )
    out.print(table)


@results_app.command("show")
@friendly
def results_show(
    run_id: RunArg,
    table: Annotated[str, typer.Option(help="Which final table.")] = "scalars",
    rows: Annotated[int, typer.Option(help="Rows to print.")] = 10,
    store: StoreOpt = None,
) -> None:
    """Print the head of a final table of a run."""
    import pandas as pd

    from scythe.results import load

    frames = load(run_id, store, tables=[table])
    if table not in frames:
        raise ScytheError(f"run {run_id} has no final table {table!r}")
    frame = frames[table]
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        out.print(f"{table}: {len(frame)} rows × {frame.shape[1]} columns", highlight=False)
        out.print(frame.head(rows).to_string(), highlight=False, soft_wrap=True)


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


@app.command()
@friendly
def worker(
    experiments: Annotated[
        list[str] | None,
        typer.Argument(help="module:function or registered names [default: the project's experiments]."),
    ] = None,
    slots: Annotated[
        int | None, typer.Option(min=1, help="Concurrent tasks [env: SCYTHE_WORKER_SLOTS].")
    ] = None,
    name: Annotated[str | None, typer.Option(help="Worker name [env: SCYTHE_WORKER_NAME].")] = None,
) -> None:
    """Serve experiments to a Hatchet engine (blocks; Ctrl-C stops). Needs HATCHET_CLIENT_* set."""
    from scythe.backends.hatchet import start_worker
    from scythe.registry import ExperimentRegistry, _load_entry_points, load_experiment
    from scythe.worker import ScytheWorkerConfig

    config = ScytheWorkerConfig()
    if experiments:
        chosen = [load_experiment(e) for e in experiments]
    else:
        _load_entry_points()
        chosen = [ExperimentRegistry.get(n) for n in ExperimentRegistry.names()]
    if not chosen:
        raise ScytheError("no experiments to serve: name them, or run inside a project that declares them")
    err.print(f"serving {', '.join(e.name for e in chosen)}", highlight=False)
    start_worker(chosen, name=name or config.computed_name, slots=slots or config.computed_slots)


def _find(run_id: str, store: str | None) -> tuple[Any, Any, Any]:
    from scythe.manifest import find_run, read_manifest
    from scythe.settings import get_settings
    from scythe.store import open_store

    settings = get_settings()
    target = open_store(store or settings.store_uri(), settings.s3_endpoint_url)
    ref = find_run(target, run_id)
    return target, ref, read_manifest(target, ref)


@app.command()
@friendly
def status(
    run_id: RunArg,
    store: StoreOpt = None,
) -> None:
    """Progress of a run: batches committed (from the store) and task states (from Hatchet)."""
    from scythe.monitor import store_progress

    target, ref, manifest = _find(run_id, store)
    state = store_progress(target, ref, manifest)
    out.print(f"run       {ref.prefix}  ({manifest.backend})")
    out.print(f"specs     {state.specs_done} of {manifest.n_specs} done")
    out.print(f"batches   {state.batches_done} of {manifest.n_batches} committed")
    out.print(f"gathered  {'yes' if state.gathered or target.exists(ref.key('final/scalars.pq')) else 'no'}")
    if manifest.backend == "hatchet":
        from scythe.backends.hatchet import task_counts

        counts = task_counts(ref, manifest.created_at)
        out.print(
            f"tasks     done {counts.completed}  running {counts.running}  queued {counts.queued}  "
            f"failed {counts.failed}  cancelled {counts.cancelled}"
        )


@app.command()
@friendly
def cancel(
    run_id: RunArg,
    store: StoreOpt = None,
) -> None:
    """Cancel a Hatchet run's unfinished tasks; committed batches stay, `scythe resume` continues."""
    from scythe.backends.hatchet import cancel as cancel_run

    _, ref, manifest = _find(run_id, store)
    if manifest.backend != "hatchet":
        raise ScytheError("only Hatchet runs can be cancelled; stop an embedded run with Ctrl-C")
    cancel_run(ref, manifest.created_at)
    out.print(f"cancelled the unfinished tasks of {ref.prefix}")


dev_app = typer.Typer(
    help="A local Hatchet engine, Postgres and S3 server for development.", no_args_is_help=True
)
app.add_typer(dev_app, name="dev")


@dev_app.command("up")
@friendly
def dev_up() -> None:
    """Start the stack in the background and print `export` lines: eval "$(scythe dev up)".

    The first start builds the Hatchet engine with Go (minutes; cached under ~/.cache/scythe),
    later starts take seconds. A running stack is reused.
    """
    from scythe import dev

    if dev.current() is None:
        err.print("starting Postgres, SeaweedFS (S3) and Hatchet …", highlight=False)
    state = dev.up()
    err.print(f"stack up (state in {dev.state_dir()}); stop it with `scythe dev down`", highlight=False)
    typer.echo(dev.exports(state), nl=False)


@dev_app.command("down")
@friendly
def dev_down() -> None:
    """Stop the stack started by `scythe dev up`."""
    from scythe import dev

    err.print("stopped" if dev.down() else "nothing was running", highlight=False)


def _version_callback(value: bool) -> None:
    if value:
        from scythe.allocation import _scythe_version

        out.print(f"scythe {_scythe_version()}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version_callback, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Scythe: your experiment's schema and function in; tidy Parquet files out.

    Settings come from SCYTHE_* environment variables (and .env): SCYTHE_STORE, SCYTHE_BACKEND,
    SCYTHE_WORKERS, SCYTHE_CACHE_DIR, SCYTHE_S3_ENDPOINT_URL; S3 credentials from AWS_*.
    """


from scythe.cli_scaffold import register as _register_scaffold  # noqa: E402

_register_scaffold(app)
