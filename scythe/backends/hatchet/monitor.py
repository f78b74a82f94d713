"""Watching a run that executes elsewhere (Hatchet): progress from the store, failures from Hatchet.

The store is the source of truth for what is done (commit records); Hatchet is asked only what
the store cannot know: whether batches are still queued or running, or failed for good.
"""

from __future__ import annotations

import math
import time

from hatchet_sdk import Hatchet

from scythe.backends.hatchet import client
from scythe.backends.progress import spec_progress
from scythe.errors import BackendError
from scythe.run.commits import GatherSummary, RunProgress, store_progress
from scythe.run.layout import FINAL_SUMMARY, RunRef
from scythe.run.manifest import Manifest
from scythe.store import Store

POLL_SECONDS = 0.2  # one HEAD for the gather summary: the latency after the run is done
PROGRESS_SECONDS = 2.0  # one LIST of commit records: the progress bar and the lost-gather check
HATCHET_CHECK_SECONDS = 15.0
REGATHER_SECONDS = 60.0


def wait_for_gather(
    store: Store, run: RunRef, manifest: Manifest, *, progress: bool, hatchet: Hatchet | None = None
) -> GatherSummary:
    """Block until the run's gather task has written its summary; fail if Hatchet gave up on it."""
    engine = hatchet or client.connect()
    gathered = run.key(FINAL_SUMMARY)
    last_listing, last_check = -math.inf, time.monotonic()  # Hatchet is asked only after a while
    complete_since: float | None = None
    with spec_progress(progress) as bar:
        task = bar.add_task(f"{run.experiment} {run.version} (hatchet)", total=manifest.n_specs, failed=0)
        while not store.exists(gathered):
            now = time.monotonic()
            if now - last_listing >= PROGRESS_SECONDS:
                last_listing = now
                state = store_progress(store, run, manifest)
                bar.update(task, completed=state.specs_done)
                complete_since = _regather_if_lost(engine, run, state, manifest, complete_since, now)
            if now - last_check >= HATCHET_CHECK_SECONDS:
                last_check = now
                _fail_if_given_up(engine, run, manifest)
            time.sleep(POLL_SECONDS)
        bar.update(task, completed=manifest.n_specs)
    return GatherSummary.model_validate_json(store.get_bytes(gathered))


def _regather_if_lost(
    engine: Hatchet,
    run: RunRef,
    state: RunProgress,
    manifest: Manifest,
    complete_since: float | None,
    now: float,
) -> float | None:
    """Every batch committed long ago but no summary: the last batch's trigger was lost."""
    if state.batches_done < manifest.n_batches:
        return None
    if complete_since is None:
        return now
    if now - complete_since > REGATHER_SECONDS:
        client.trigger_gather(engine, run)  # gather is idempotent
        return now
    return complete_since


def _fail_if_given_up(engine: Hatchet, run: RunRef, manifest: Manifest) -> None:
    counts = client.task_counts(engine, run, manifest.created_at)
    if counts.queued + counts.running == 0 and (counts.failed or counts.cancelled):
        raise BackendError(
            f"{counts.failed} batch task(s) failed and {counts.cancelled} were cancelled in "
            f"Hatchet; finished batches are kept: `scythe resume {run.prefix}` retries the rest"
        )
