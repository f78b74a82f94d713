"""`scythe status`, `cancel`: a started run from the command line (after `run`, `resume`, `worker`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from scythe.cli.app import RunArg, StoreOpt, app, friendly, out, settings

if TYPE_CHECKING:
    from scythe.backends.base import TaskCounts
    from scythe.run.layout import RunRef
    from scythe.run.manifest import Manifest
    from scythe.settings import ScytheSettings
    from scythe.store import Store


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
