"""`scythe logs RUN [--spec N]`: what a run's specs logged (`input_spec.log`) and printed.

Each batch keeps its specs' words in its `log.txt`, one section per spec (`scythe.run.spec_logs`);
this command reads them back, the whole run's or one spec's, printed as they were written.
"""

from __future__ import annotations

from typing import Annotated

import typer

from scythe.cli.app import RunArg, StoreOpt, app, err, friendly, hinted, settings
from scythe.errors import ScytheError


@app.command("logs")
@friendly
def logs(
    run_id: RunArg,
    spec: Annotated[
        int | None,
        typer.Option(
            "--spec",
            min=0,
            help=hinted(
                "Only this spec's text (its sort_index, as in the final tables), printed as it was written.",
                default="every spec, one after another",
            ),
        ),
    ] = None,
    store: StoreOpt = None,
) -> None:
    """Show what the run's specs logged and printed, spec by spec (the last 64 KiB of each)."""
    from scythe.run import spec_logs
    from scythe.run.manifest import find_run, read_manifest

    target = settings().open_store(store)
    ref = find_run(target, run_id)
    manifest = read_manifest(target, ref)
    if spec is not None:
        if spec >= manifest.n_specs:
            raise ScytheError(f"run {ref.prefix} has specs 0–{manifest.n_specs - 1}, not {spec}")
        text = spec_logs.spec_log(target, ref, spec, manifest.batch_size)
        if text is None:
            err.print(f"spec {spec} of {ref.prefix} logged and printed nothing (or has not run yet)")
            return
        typer.echo(text, nl=False)
        return
    found = spec_logs.batch_logs(target, ref)
    if not found:
        err.print(f"no spec of {ref.prefix} logged or printed anything (in the batches that ran)")
    for batch, text in found.items():
        before, specs = spec_logs.split(text)
        if before:
            typer.echo(f"── batch {batch} ──\n{before}", nl=not before.endswith("\n"))
        for sort_index, said in specs.items():
            typer.echo(f"── spec {sort_index} (batch {batch}) ──\n{said}", nl=False)
