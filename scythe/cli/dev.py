"""`scythe dev up|down`: the local Postgres + S3 + Hatchet stack (or a local Slurm) for development."""

from __future__ import annotations

from typing import Annotated

import typer

from scythe.cli.app import app, err, friendly

dev_app = typer.Typer(
    help="A local Hatchet engine, Postgres and S3 server (or a Slurm cluster) for development.",
    no_args_is_help=True,
)
app.add_typer(dev_app, name="dev")


@dev_app.command("up")
@friendly
def dev_up(
    slurm: Annotated[
        bool,
        typer.Option("--slurm", help="Start a local single-node Slurm (munge, slurmctld, slurmd) instead."),
    ] = False,
) -> None:
    """Start the stack in the background; print its `export` lines.

    Use it as eval "$(scythe dev up)".

    The first start builds the Hatchet engine with Go (minutes; cached under ~/.cache/scythe),
    later starts take seconds. A running stack is reused. With --slurm: a Slurm cluster on
    127.0.0.1 for `--backend slurm` (prints `export SLURM_CONF=…`; Debian's slurm-wlm and munge).
    """
    from scythe.dev import stack as dev

    if slurm:
        _slurm_up()
        return

    state = dev.up(say=lambda text: err.print(text, highlight=False, markup=False))
    err.print(f"stack up (state in {dev.state_dir()}); stop it with `scythe dev down`", highlight=False)
    typer.echo(dev.exports(state), nl=False)


@dev_app.command("down")
@friendly
def dev_down() -> None:
    """Stop the stack (and the local Slurm) started by `scythe dev up`."""
    from scythe.dev import stack as dev
    from scythe.dev.slurm import down_slurm

    stopped = dev.down() + down_slurm()
    err.print(f"stopped {', '.join(stopped)}" if stopped else "nothing was running", highlight=False)


def _slurm_up() -> None:
    from scythe.dev import slurm

    exports, reused = slurm.up_slurm()
    where = slurm.state_file()
    err.print(
        f"local Slurm {'already ' if reused else ''}up (recorded in {where}); stop it with `scythe dev down`",
        highlight=False,
    )
    typer.echo(exports, nl=False)
