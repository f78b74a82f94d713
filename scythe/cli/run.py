"""`scythe run`, `resume`, `worker`: a run's life from the command line (`status`, `cancel` follow
in `scythe.cli.status`)."""

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
    from scythe.registry import Experiment
    from scythe.run.allocation import RunResult


def _parse_fixed(values: list[str]) -> dict[str, Any]:
    import yaml

    return {k: yaml.safe_load(v) if v else "" for k, v in parse_pairs(values, "--set", "FIELD").items()}


def _report(result: Any) -> None:
    """A finished run: its summary (outputs first, then counts, errors, where the files are);
    a submitted one: how to follow it."""
    from scythe.run.allocation import RunResult

    assert isinstance(result, RunResult)
    out.print(f"run      {result.run.prefix}")
    if result.batches:
        out.print(f"batches  {result.batches}")
    if not result.finished:
        out.print(f"specs    {result.n_specs} submitted; follow with `scythe status {result.run.prefix}`")
        return
    final = _summarise(result)
    if result.failed:
        err.print(
            f"[bold red]{result.failed} of {result.n_specs} specs failed[/]: "
            f"`scythe results show {escape(result.run.prefix)} --table errors`, or {escape(final)}/errors.pq",
            soft_wrap=True,
            highlight=False,
            markup=True,
        )
        raise typer.Exit(EXIT_FAILED_SPECS)


def _summarise(result: RunResult) -> str:
    """Print the run's summary and the command that writes its report; where final/ is.

    The report is not drawn here: matplotlib's import and the figures take ~2 s for the example
    on 2 cores, more than a run's closing lines should cost.
    """
    from scythe.results.summary import print_summary, read_run

    data = read_run(result.run.prefix, result.run.store)
    report = f"scythe results report {result.run.prefix}  (writes {data.final}/report.html)"
    print_summary(out, data, report=report, title=False)
    return data.final


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
ReuseOpt = Annotated[
    bool,
    typer.Option(
        "--reuse",
        help=hinted(
            "Run only the specs no earlier gathered run of the same experiment and version in this "
            "store succeeded on (input files compared by content); copy the others' rows "
            "(marked reused in final/timings.pq).",
            default="off: every spec runs",
        ),
    ),
]
FailedOpt = Annotated[
    bool,
    typer.Option(
        "--failed",
        help=hinted(
            "Re-run only the specs in RUN's final/errors.pq, as a new run under the experiment's "
            "version now (its successes copied from RUN), then gather it. Refused while the "
            "version is still RUN's, unless --version says so (e.g. --version keep).",
            default="off: finish RUN's unfinished batches",
        ),
    ),
]
FailedVersionOpt = Annotated[
    str | None,
    typer.Option(
        help=hinted(
            "With --failed: the re-run's version, MAJOR.MINOR.PATCH or bumpmajor|bumpminor|bumppatch|keep.",
            default="the project's version, which must differ from RUN's",
        )
    ),
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
    reuse: ReuseOpt = False,
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
        reuse=reuse,
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
    failed: FailedOpt = False,
    version: FailedVersionOpt = None,
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
    """Finish an interrupted run, then gather; or, with --failed, re-run its failed specs.

    Only the specs without a committed result execute. With --failed (after fixing the code), a
    new run executes only RUN's failed specs and copies the rest from RUN: its final/ holds every row.
    """
    from scythe.run.allocation import resume as resume_run
    from scythe.run.rerun import rerun_failed

    if version is not None and not failed:
        raise ScytheError("--version goes with --failed: a plain resume finishes RUN under its own version")

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
    if failed:
        again = rerun_failed(
            run_id, store=store, version=version, workers=workers, progress=not quiet, settings=config
        )
        _report(again)
        return
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
                "Specs run at once, each in a process of its own: one per core for CPU-bound specs, "
                "more for specs that mostly wait (I/O, a license server, sleeps).",
                default="--slots if given, else one per usable core",
            ),
        ),
    ] = None,
    slots: Annotated[
        int | None,
        typer.Option(
            min=1,
            help=hinted(
                "Batch tasks taken at once; a batch spreads over every process no other batch holds, "
                "and runs are cut into batches to match.",
                env="SCYTHE_WORKER_SLOTS",
                default="--processes, at most one per usable core",
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
