"""`scythe dev up|down`: the local Postgres + S3 + Hatchet stack for development."""

from __future__ import annotations

import typer

from scythe.cli.app import app, err, friendly

dev_app = typer.Typer(
    help="A local Hatchet engine, Postgres and S3 server for development.", no_args_is_help=True
)
app.add_typer(dev_app, name="dev")


@dev_app.command("up")
@friendly
def dev_up() -> None:
    """Start the stack in the background; print its `export` lines.

    Use it as eval "$(scythe dev up)".

    The first start builds the Hatchet engine with Go (minutes; cached under ~/.cache/scythe),
    later starts take seconds. A running stack is reused.
    """
    from scythe.dev import stack as dev

    state = dev.up(say=lambda text: err.print(text, highlight=False, markup=False))
    err.print(f"stack up (state in {dev.state_dir()}); stop it with `scythe dev down`", highlight=False)
    typer.echo(dev.exports(state), nl=False)


@dev_app.command("down")
@friendly
def dev_down() -> None:
    """Stop the stack started by `scythe dev up`."""
    from scythe.dev import stack as dev

    stopped = dev.down()
    err.print(f"stopped {', '.join(stopped)}" if stopped else "nothing was running", highlight=False)
