"""The Slurm backend: a run's batches as job arrays, its gather as a job depending on them.

`commands` wraps Slurm's command-line tools, `submission` writes the job script, submits arrays
over batch numbers and records every submission beside the run, `job` is what an array element
and the gather run (the shared `run_batch` and gather). This module is the `Backend`: the store's
commit records say what is done, `squeue` only whether anything of the run is still live.

Plain `sbatch` of a generated script rather than submitit: see the README's "Slurm" section.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, ClassVar

from scythe.backends.base import RecursionMap, TaskCounts
from scythe.backends.progress import spec_progress
from scythe.backends.slurm import commands
from scythe.backends.slurm.submission import Resources, SlurmJobs, read_jobs, stopped_by_slurm, submit
from scythe.errors import BackendError
from scythe.registry import Experiment
from scythe.run.batching import Capacity
from scythe.run.commits import GatherSummary, missing_batches, store_progress
from scythe.run.layout import FINAL_SUMMARY, RunRef
from scythe.run.manifest import Manifest
from scythe.settings import ScytheSettings
from scythe.store import Store

POLL_SECONDS = 0.25  # one stat of the gather summary
PROGRESS_SECONDS = 2.0  # one listing of commit records
SQUEUE_SECONDS = 5.0  # one squeue: schedulers ask callers not to poll them hard


class SlurmBackend:
    """Batches run wherever Slurm places the run's array elements."""

    name: ClassVar[str] = "slurm"
    detaches: ClassVar[bool] = True
    # An element's scheduling, interpreter start and imports: batches are sized so these stay a
    # small share of the run (`run/batching.py`), never thousands of 10 ms elements.
    batch_overhead: ClassVar[float] = 5.0

    def __init__(self, settings: ScytheSettings) -> None:
        self.settings = settings
        self.resources = Resources.of(settings)
        self._config: dict[str, str] | None = None
        self._unanswered = False

    @property
    def config(self) -> dict[str, str]:
        if self._config is None:
            self._config = commands.config()
        return self._config

    def capacity(self, experiment: Experiment[Any, Any]) -> Capacity | None:
        """Elements that fit at once: the partition's CPUs over each element's CPUs."""
        cpus = commands.partition_cpus(self.resources.partition)
        if cpus is None:
            return None
        slots = max(1, cpus // self.resources.cpus_per_task)
        return Capacity(min(slots, self.resources.array_limit or slots), spread=self.resources.cpus_per_task)

    def check(self, experiment: Experiment[Any, Any]) -> None:
        """The controller answers and would take the run's elements (partition, account, walltime,
        memory: `sbatch --test-only`), before anything is written."""
        _ = self.config
        commands.test_only(self.resources.flags())

    def submit(self, store: Store, run: RunRef, manifest: Manifest, shape: RecursionMap | None) -> None:
        submit(store, run, range(manifest.n_batches), self.resources, commands.max_array_size(self.config))

    def resume(self, store: Store, run: RunRef, manifest: Manifest) -> None:
        """Submit only the batches without a commit record (none: the gather alone)."""
        missing = missing_batches(store, run, manifest)
        submit(store, run, missing, self.resources, commands.max_array_size(self.config))

    def wait(self, store: Store, run: RunRef, manifest: Manifest, *, progress: bool) -> GatherSummary:
        """Until the gather job wrote its summary; raise, naming what is missing and why, once no
        job of the run is live in Slurm and it is not gathered."""
        gathered = run.key(FINAL_SUMMARY)
        jobs = read_jobs(store, run)
        last_listing = last_squeue = -float("inf")
        with spec_progress(progress) as bar:
            task = bar.add_task(f"{run.experiment} {run.version} (slurm)", total=manifest.n_specs, failed=0)
            while not store.exists(gathered):
                now = time.monotonic()
                if now - last_listing >= PROGRESS_SECONDS:
                    last_listing = now
                    bar.update(task, completed=store_progress(store, run, manifest).specs_done)
                if now - last_squeue >= SQUEUE_SECONDS:
                    last_squeue = now
                    if not self._live(jobs, bar.console.print if progress else None) and not store.exists(
                        gathered
                    ):
                        raise BackendError(self._ended(store, run, manifest, jobs))
                time.sleep(POLL_SECONDS)
            bar.update(task, completed=manifest.n_specs)
        return GatherSummary.model_validate_json(store.get_bytes(gathered))

    def _live(self, jobs: SlurmJobs, say: Callable[[str], None] | None) -> bool:
        """Whether anything of the run is in Slurm's queue; True while squeue fails (a controller
        restarting), said once per outage: the store keeps the progress meanwhile."""
        try:
            live = bool(commands.job_states(jobs.job_ids()))
        except BackendError as exc:
            if not self._unanswered and say is not None:
                say(f"Slurm does not answer ({exc}); waiting for it")
            self._unanswered = True
            return True
        self._unanswered = False
        return live

    def _ended(self, store: Store, run: RunRef, manifest: Manifest, jobs: SlurmJobs) -> str:
        """Why a run whose jobs all ended is not gathered, and the command that carries on."""
        missing = missing_batches(store, run, manifest)
        resume = f"`scythe resume {run.prefix} --store {store.uri}`"
        if not missing:
            return f"the gather job of {run.prefix} ended without gathering (see its log); {resume} gathers"
        why = stopped_by_slurm(store, run, jobs, missing)
        by_cause: dict[str, list[int]] = {}
        for b in missing:
            by_cause.setdefault(why.get(b, "ended without a commit record"), []).append(b)
        parts = [f"{_listed(bs)} {_verb(cause)}" for cause, bs in by_cause.items()]
        hint = " with a longer --time" if "time limit" in by_cause else ""
        walltime = (jobs.submissions[-1].time if jobs.submissions else None) or "the partition's"
        return (
            f"{len(missing)} of {manifest.n_batches} batches did not finish: {'; '.join(parts)}"
            f" (walltime {walltime}); finished batches "
            f"are kept: {resume}{hint} runs the rest and gathers"
        )

    def status(self, run: RunRef, manifest: Manifest) -> TaskCounts | None:
        """Array elements by state (squeue), batches done (the store), what Slurm stopped (logs)."""
        store = self.settings.open_store(run.store)
        jobs = read_jobs(store, run)
        states = commands.job_states(jobs.job_ids())
        elements = {b: s for j, s in states.items() if (b := jobs.element(j)) is not None}
        running = sum(s in ("RUNNING", "COMPLETING") for s in elements.values())
        queued = sum(1 for s in elements.values() if s not in ("RUNNING", "COMPLETING"))
        state = store_progress(store, run, manifest)
        stopped = stopped_by_slurm(
            store, run, jobs, [b for b in missing_batches(store, run, manifest) if b not in elements]
        )
        return TaskCounts(
            queued=queued + (len(states) - len(elements) if not state.gathered else 0),
            running=running,
            completed=state.batches_done,
            failed=sum(why != "cancelled" for why in stopped.values()),
            cancelled=sum(why == "cancelled" for why in stopped.values()),
        )

    def cancel(self, run: RunRef, manifest: Manifest) -> None:
        """scancel every job of the run (its arrays and gathers); commit records stay."""
        store = self.settings.open_store(run.store)
        commands.cancel(read_jobs(store, run).job_ids())


def _listed(batches: list[int]) -> str:
    shown = ", ".join(map(str, batches[:20])) + (", …" if len(batches) > 20 else "")
    return f"batch{'es' if len(batches) > 1 else ''} {shown}"


def _verb(cause: str) -> str:
    return {
        "time limit": "hit the walltime",
        "preemption": "were preempted",
        "node failure": "lost their node",
        "cancelled": "were cancelled",
    }.get(cause, cause)


def make(settings: ScytheSettings, *, workers: int | None = None) -> SlurmBackend:
    return SlurmBackend(settings)
