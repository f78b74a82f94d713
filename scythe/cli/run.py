"""`scythe run`, `resume`, `worker`, `status`, `cancel`: a run's life from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from scythe.backends import DEFAULT_WORKER_NAME
from scythe.cli.app import (
    EXIT_FAILED_SPECS,
    QuietOpt,
    RunArg,
    StoreOpt,
    WorkersOpt,
    app,
    err,
    friendly,
    hinted,
    out,
    parse_pairs,
    settings,
)
from scythe.cli.slurm import (
    AccountOpt,
    ArrayLimitOpt,
    CpusOpt,
    MemOpt,
    PartitionOpt,
    QosOpt,
    SbatchOpt,
    TimeOpt,
    with_slurm,
)
from scythe.errors import ScytheError

if TYPE_CHECKING:
    from scythe.backends.base import TaskCounts
    from scythe.registry import Experiment
    from scythe.run.layout import RunRef
    from scythe.run.manifest import Manifest
    from scythe.settings import ScytheSettings
    from scythe.store import Store


def _parse_fixed(values: list[str]) -> dict[str, Any]:
    import yaml

    return {k: yaml.safe_load(v) if v else "" for k, v in parse_pairs(values, "--set", "FIELD").items()}


def _report(result: Any) -> None:
    from scythe.run.allocation import RunResult

    assert isinstance(result, RunResult)
    out.print(f"run      {result.run.prefix}")
    if result.batches:
        out.print(f"batches  {result.batches}")
    if not result.finished:
        out.print(f"specs    {result.n_specs} submitted; follow with `scythe status {result.run.prefix}`")
        return
    out.print(f"specs    {result.n_specs}  ok {result.succeeded}  failed {result.failed}")
    for name, uri in result.files.items():
        out.print(f"{name:<8} {uri}", soft_wrap=True, highlight=False)
    if result.failed:
        err.print(
            f"[bold red]{result.failed} of {result.n_specs} specs failed[/]: "
            f"see {escape(str(result.files.get('errors')))}",
            soft_wrap=True,
            highlight=False,
            markup=True,
        )
        raise typer.Exit(EXIT_FAILED_SPECS)


ExperimentArg = Annotated[
    str | None,
    typer.Argument(
        metavar="EXPERIMENT",
        help=hinted("module:function or a registered name.", default="the one installed projects declare"),
    ),
]
DesignOpt = Annotated[
    Path | None, typer.Option("--design", "-d", help="CSV or Parquet file, one row per spec.")
]
SampleOpt = Annotated[
    str | None, typer.Option(metavar="lhs|sobol", help="Draw the design instead, inside the schema's bounds.")
]
FixedOpt = Annotated[
    list[str] | None,
    typer.Option("--set", metavar="FIELD=VALUE", help="A field fixed in every sampled row (repeatable)."),
]
VersionOpt = Annotated[
    str | None,
    typer.Option(
        help=hinted(
            "MAJOR.MINOR.PATCH or bumpmajor|bumpminor|bumppatch|keep.",
            default="the project's version, else keep",
        )
    ),
]
BatchSizeOpt = Annotated[
    int | None,
    typer.Option(min=1, help=hinted("Specs per task.", default="about 64 tasks of at most 1,000 specs")),
]
BackendOpt = Annotated[
    str | None,
    typer.Option(
        metavar="NAME",
        help=hinted(
            "Where tasks execute: embedded, hatchet or slurm.", env="SCYTHE_BACKEND", default="embedded"
        ),
    ),
]
NoWaitOpt = Annotated[
    bool, typer.Option("--no-wait", help="Hatchet, Slurm: print the run and return once it is submitted.")
]


def _experiment(name: str | None) -> Experiment[Any, Any]:
    """The experiment named, else the one installed projects declare: said on stderr, since the
    user did not choose it (a plain line, not a warning)."""
    from scythe.registry import declared_by, discover_default, load_experiment

    if name:
        return load_experiment(name)
    picked = discover_default()
    err.print(
        f"experiment {picked.name} ({picked.ref}), the only one installed: {declared_by(picked)}",
        highlight=False,
        soft_wrap=True,
    )
    return picked


@app.command()
@friendly
def run(
    experiment: ExperimentArg = None,
    design: DesignOpt = None,
    sample: SampleOpt = None,
    n: Annotated[int, typer.Option("--n", help="Specs to draw with --sample.")] = 100,
    seed: Annotated[int, typer.Option(help="Seed for --sample.")] = 0,
    fixed: FixedOpt = None,
    store: StoreOpt = None,
    workers: WorkersOpt = None,
    version: VersionOpt = None,
    batch_size: BatchSizeOpt = None,
    backend: BackendOpt = None,
    no_wait: NoWaitOpt = False,
    quiet: QuietOpt = False,
    partition: PartitionOpt = None,
    time: TimeOpt = None,
    mem: MemOpt = None,
    cpus_per_task: CpusOpt = None,
    account: AccountOpt = None,
    qos: QosOpt = None,
    array_limit: ArrayLimitOpt = None,
    sbatch: SbatchOpt = None,
) -> None:
    """Run a design through an experiment and gather final/*.pq.

    Exit codes: 0 all specs succeeded, 1 a usage or setup error (nothing run), 3 some specs failed
    (their errors are in final/errors.pq; every other result is kept).
    """
    from scythe.run.allocation import allocate
    from scythe.sampling import sample_design

    if (design is None) == (sample is None):
        raise ScytheError("give exactly one of --design FILE or --sample lhs|sobol")
    if fixed and design is not None:
        raise ScytheError("--set fixes fields of a --sample design; with --design, put the value in the file")
    exp = _experiment(experiment)
    rows: Any = design
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
        settings=with_slurm(
            settings(),
            partition=partition,
            time=time,
            mem=mem,
            cpus_per_task=cpus_per_task,
            account=account,
            qos=qos,
            array_limit=array_limit,
            sbatch=sbatch,
        ),
    )
    _report(result)


@app.command()
@friendly
def resume(
    run_id: RunArg,
    store: StoreOpt = None,
    workers: WorkersOpt = None,
    quiet: QuietOpt = False,
    partition: PartitionOpt = None,
    time: TimeOpt = None,
    mem: MemOpt = None,
    cpus_per_task: CpusOpt = None,
    account: AccountOpt = None,
    qos: QosOpt = None,
    array_limit: ArrayLimitOpt = None,
    sbatch: SbatchOpt = None,
) -> None:
    """Finish an interrupted run, then gather.

    Only the specs without a committed result execute.
    """
    from scythe.run.allocation import resume as resume_run

    config = with_slurm(
        settings(),
        partition=partition,
        time=time,
        mem=mem,
        cpus_per_task=cpus_per_task,
        account=account,
        qos=qos,
        array_limit=array_limit,
        sbatch=sbatch,
    )
    _report(resume_run(run_id, store=store, workers=workers, progress=not quiet, settings=config))


@app.command()
@friendly
def worker(
    experiments: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="EXPERIMENT",
            help=hinted("module:function or registered names.", default="every experiment installed"),
        ),
    ] = None,
    processes: Annotated[
        int | None,
        typer.Option(
            "--processes",
            "-p",
            min=1,
            help=hinted(
                "Specs run at once, each in a process of its own (one core each).",
                default="--slots if given, else one per usable core",
            ),
        ),
    ] = None,
    slots: Annotated[
        int | None,
        typer.Option(
            min=1,
            help=hinted(
                "Batch tasks taken at once; a batch spreads over every process no other batch holds.",
                env="SCYTHE_WORKER_SLOTS",
                default="--processes",
            ),
        ),
    ] = None,
    label: Annotated[
        list[str] | None,
        typer.Option(
            metavar="KEY=VALUE",
            help=hinted(
                "What this worker offers (repeatable), e.g. gpu=true: experiments registered with "
                "worker_labels={'gpu': True} run only on workers offering every label they name.",
                default="none: only experiments that name no label",
            ),
        ),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(help=hinted("Worker name.", env="SCYTHE_WORKER_NAME", default=DEFAULT_WORKER_NAME)),
    ] = None,
) -> None:
    """Serve experiments to a Hatchet engine (blocks; Ctrl-C stops).

    One worker per machine uses all of it: CPU-bound specs keep every core busy. Needs the
    HATCHET_CLIENT_* variables set (`scythe dev up` prints them for the local stack).
    """
    from scythe.backends.hatchet.worker import serve, served_experiments
    from scythe.registry import worker_labels_of

    offered = dict(worker_labels_of(parse_pairs(label or [], "--label", "KEY")))
    chosen = served_experiments(experiments)
    shown = "; offering " + ", ".join(f"{k}={v}" for k, v in offered.items()) if offered else ""
    err.print(f"serving {', '.join(e.name for e in chosen)}{shown}", highlight=False)
    serve(chosen, settings(), name=name, slots=slots, processes=processes, labels=offered)


def _find(run_id: str, store: str | None) -> tuple[ScytheSettings, Store, RunRef, Manifest]:
    from scythe.run.manifest import find_run, read_manifest

    config = settings()
    target = config.open_store(store)
    ref = find_run(target, run_id)
    return config, target, ref, read_manifest(target, ref)


@app.command()
@friendly
def status(
    run_id: RunArg,
    store: StoreOpt = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object on stdout (fields below), for scripts.")
    ] = False,
) -> None:
    """Progress of a run: batches committed and tasks by state.

    Batches come from the store's commit records, task states from the run's backend.

    With --json, the fields: run, backend, specs, specs_done, batches, gathered; done (batches committed),
    running (tasks on a worker now), queued (tasks that will need a worker slot: batches not yet
    started, and the gather once every batch is done; 0 once Hatchet gave up and nothing is
    left to run), failed and cancelled (tasks Hatchet gave up on). An autoscaler starts workers
    while queued + running > 0. running, queued, failed and cancelled are null on the embedded
    backend, which keeps no queue.
    """
    from scythe.backends import get_backend
    from scythe.run.commits import store_progress
    from scythe.run.layout import SCALARS

    config, target, ref, manifest = _find(run_id, store)
    state = store_progress(target, ref, manifest)
    gathered = state.gathered or target.exists(ref.key(SCALARS))
    counts = get_backend(manifest.backend, config).status(ref, manifest)
    if as_json:
        _status_json(ref.prefix, manifest, state.specs_done, state.batches_done, gathered, counts)
        return
    out.print(f"run       {ref.prefix}  ({manifest.backend})")
    out.print(f"specs     {state.specs_done} of {manifest.n_specs} done")
    out.print(f"batches   {state.batches_done} of {manifest.n_batches} committed")
    out.print(f"gathered  {'yes' if gathered else 'no'}")
    if counts is not None:
        out.print(
            f"tasks     done {counts.completed}  running {counts.running}  queued {counts.queued}  "
            f"failed {counts.failed}  cancelled {counts.cancelled}"
        )


def _status_json(
    prefix: str, manifest: Manifest, specs_done: int, done: int, gathered: bool, counts: TaskCounts | None
) -> None:
    import json

    tasks = counts.model_dump(exclude={"completed"}) if counts is not None else {}
    fields = {
        "run": prefix,
        "backend": manifest.backend,
        "specs": manifest.n_specs,
        "specs_done": specs_done,
        "batches": manifest.n_batches,
        "done": done,
        **{key: tasks.get(key) for key in ("running", "queued", "failed", "cancelled")},
        "gathered": gathered,
    }
    typer.echo(json.dumps(fields))


@app.command()
@friendly
def cancel(
    run_id: RunArg,
    store: StoreOpt = None,
) -> None:
    """Cancel a Hatchet or Slurm run's unfinished tasks.

    Committed batches stay; `scythe resume` carries on later.
    """
    from scythe.backends import get_backend

    config, _, ref, manifest = _find(run_id, store)
    get_backend(manifest.backend, config).cancel(ref, manifest)
    out.print(f"cancelled the unfinished tasks of {ref.prefix}")
