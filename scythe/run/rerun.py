"""`scythe resume RUN --failed`: a gathered run's failed specs, run again once the code is fixed.

The re-run is a new run (its own run id, under the experiment's version now) of the old run's
whole design, in which every spec the old run succeeded on is copied from it (the `--reuse`
machinery, `scythe.run.reuse`, with the old run as the only source) and only the specs in its
errors.pq execute; it gathers like any run, so its final tables hold every row, the copied ones
marked `reused` (from the old run) in timings.pq.

Why a new run rather than rewriting the old one in place: the old run's committed batches are
the record of what its version's code produced, and a batch counts exactly once because its
commit record is never rewritten; patching its shards would break that, and put two versions'
results under one version's name. The old run is left as it was.

The fix normally comes with a new version (the project's version bumped, or `--version
bumppatch`); re-running under the old run's own version is refused unless asked for explicitly
(`--version keep` or the version itself): unchanged code usually fails the same way again.
"""

from __future__ import annotations

from typing import Any

from scythe.errors import ScytheError
from scythe.run.allocation import RunResult, allocate
from scythe.run.layout import ERRORS, FINAL_SUMMARY, SPECS, RunRef
from scythe.run.manifest import Manifest, find_run, read_manifest
from scythe.run.versions import default_version, resolve_version
from scythe.settings import ScytheSettings, get_settings
from scythe.store import Store, local_copy


def rerun_failed(
    run: str,
    *,
    store: str | None = None,
    version: str | None = None,
    workers: int | None = None,
    progress: bool = True,
    settings: ScytheSettings | None = None,
) -> RunResult:
    """A new run of `run`'s design in which only its failed specs execute (see the module)."""
    from scythe.registry import load_experiment

    settings = settings or get_settings()
    target = settings.open_store(store)
    ref = find_run(target, run)
    manifest = read_manifest(target, ref)
    if not target.exists(ref.key(FINAL_SUMMARY)):
        raise ScytheError(f"{ref.prefix} is not gathered yet: `scythe resume {ref.prefix}` finishes it first")
    if not target.exists(ref.key(ERRORS)):
        raise ScytheError(f"{ref.prefix} has no failed specs (no final/errors.pq): nothing to re-run")
    experiment = load_experiment(manifest.experiment_ref)
    resolved = resolve_version(version or default_version(experiment), target.children(experiment.name))
    if version is None and resolved == manifest.version:
        raise ScytheError(
            f"{experiment.name} is still at {resolved}, the version {ref.run_id} ran: after fixing the "
            "code bump the project's version (or give --version bumppatch), or give --version keep "
            f"to re-run the failed specs under {resolved}"
        )
    return allocate(
        experiment,
        _design(target, ref, manifest, experiment.input_spec.design_fields()),
        store=store,
        version=resolved,
        backend=manifest.backend,
        workers=workers,
        progress=progress,
        settings=settings,
        reuse_from=[ref],
    )


def _design(store: Store, run: RunRef, manifest: Manifest, fields: list[str]) -> list[dict[str, Any]]:
    """The old run's design as rows of the fields the experiment has now (stored file inputs stay
    their stored URIs, so they are neither uploaded again nor keyed differently)."""
    import pyarrow.parquet as pq

    with local_copy(store, run.key(SPECS)) as path:
        table = pq.read_table(path)
    rows: list[dict[str, Any]] = table.select([n for n in fields if n in table.column_names]).to_pylist()
    if len(rows) != manifest.n_specs:
        raise ScytheError(f"{run.prefix}/{SPECS} holds {len(rows)} specs, its manifest {manifest.n_specs}")
    return rows
