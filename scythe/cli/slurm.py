"""The Slurm backend's sbatch options, shared by `scythe run` and `scythe resume`.

Each overrides its `SCYTHE_SLURM_*` setting for one command (so `resume --time 2:00:00` gives the
batches that hit their walltime a longer one); the other backends ignore them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from scythe.cli.app import hinted

if TYPE_CHECKING:
    from scythe.settings import ScytheSettings

PANEL = "Slurm (--backend slurm)"

PartitionOpt = Annotated[
    str | None,
    typer.Option(
        help=hinted("Partition.", default="SCYTHE_SLURM_PARTITION, else the cluster's default"),
        rich_help_panel=PANEL,
    ),
]
TimeOpt = Annotated[
    str | None,
    typer.Option(
        "--time",
        help=hinted(
            "Walltime of one array element, e.g. 1:00:00.", default="SCYTHE_SLURM_TIME, else the partition's"
        ),
        rich_help_panel=PANEL,
    ),
]
MemOpt = Annotated[
    str | None,
    typer.Option(
        help=hinted(
            "Memory of one array element, e.g. 4G.", default="SCYTHE_SLURM_MEM, else the partition's"
        ),
        rich_help_panel=PANEL,
    ),
]
CpusOpt = Annotated[
    int | None,
    typer.Option(
        min=1,
        help=hinted("CPUs of one array element.", default="SCYTHE_SLURM_CPUS_PER_TASK, else 1"),
        rich_help_panel=PANEL,
    ),
]
AccountOpt = Annotated[
    str | None,
    typer.Option(
        help=hinted("Account charged.", default="SCYTHE_SLURM_ACCOUNT, else yours"), rich_help_panel=PANEL
    ),
]
QosOpt = Annotated[
    str | None,
    typer.Option(
        help=hinted("Quality of service.", default="SCYTHE_SLURM_QOS, else the account's"),
        rich_help_panel=PANEL,
    ),
]
ArrayLimitOpt = Annotated[
    int | None,
    typer.Option(
        min=1,
        help=hinted(
            "Array elements running at once, the array's %N.",
            default="SCYTHE_SLURM_ARRAY_LIMIT, else no limit",
        ),
        rich_help_panel=PANEL,
    ),
]
SbatchOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--sbatch",
        metavar="FLAG",
        help=hinted(
            "An extra sbatch flag, e.g. --sbatch=--exclusive (repeatable).",
            default="SCYTHE_SLURM_SBATCH_FLAGS",
        ),
        rich_help_panel=PANEL,
    ),
]


def with_slurm(
    config: ScytheSettings,
    *,
    partition: str | None = None,
    time: str | None = None,
    mem: str | None = None,
    cpus_per_task: int | None = None,
    account: str | None = None,
    qos: str | None = None,
    array_limit: int | None = None,
    sbatch: list[str] | None = None,
) -> ScytheSettings:
    """`config` with the options given on the command line in place of their settings."""
    import shlex

    given = {
        "slurm_partition": partition,
        "slurm_time": time,
        "slurm_mem": mem,
        "slurm_cpus_per_task": cpus_per_task,
        "slurm_account": account,
        "slurm_qos": qos,
        "slurm_array_limit": array_limit,
    }
    update: dict[str, object] = {k: v for k, v in given.items() if v is not None}
    if sbatch:
        update["slurm_sbatch_flags"] = f"{config.slurm_sbatch_flags} {shlex.join(sbatch)}".strip()
    return config.model_copy(update=update) if update else config
