"""Turning batches into Slurm jobs: one generated script, job arrays over batch numbers, a gather
that depends on them (`afterany`), and the record of every submission in the store.

An array index is a batch number minus its array's offset, so a resumed run submits exactly the
batches without a commit record (`3,7,12-40`) and `MaxArraySize` (indices must stay below it) is
respected by cutting the batches into arrays of consecutive offsets. Each element's output goes
to `<run>/scatter-gather/slurm/batch-<job>_<index>.out` on the shared filesystem (a local store)
or under the working directory (an S3 store), where Slurm's own "DUE TO TIME LIMIT" line tells
the waiter which batches hit their walltime.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, Field

from scythe.backends.slurm import commands
from scythe.errors import StoreError
from scythe.run.layout import SLURM_JOBS, RunRef
from scythe.settings import ScytheSettings
from scythe.store import LocalStore, Store

LOGS = "scatter-gather/slurm"
_CAUSES = ("TIME LIMIT", "PREEMPTION", "NODE FAILURE")  # slurmstepd's "CANCELLED … DUE TO …"


class Resources(BaseModel):
    """What each array element asks Slurm for (sbatch flags), from SCYTHE_SLURM_* and options."""

    partition: str | None = None
    time: str | None = None
    mem: str | None = None
    cpus_per_task: int = 1
    account: str | None = None
    qos: str | None = None
    array_limit: int | None = None
    extra: list[str] = Field(default_factory=list)

    @classmethod
    def of(cls, settings: ScytheSettings) -> Resources:
        return cls(
            partition=settings.slurm_partition,
            time=settings.slurm_time,
            mem=settings.slurm_mem,
            cpus_per_task=settings.slurm_cpus_per_task,
            account=settings.slurm_account,
            qos=settings.slurm_qos,
            array_limit=settings.slurm_array_limit,
            extra=shlex.split(settings.slurm_sbatch_flags),
        )

    def flags(self, *, gather: bool = False) -> list[str]:
        """sbatch flags; the gather job takes one CPU and the run's account, partition and qos."""
        pairs = {"--partition": self.partition, "--account": self.account, "--qos": self.qos}
        if not gather:
            pairs |= {"--time": self.time, "--mem": self.mem, "--cpus-per-task": str(self.cpus_per_task)}
        return [f"{flag}={value}" for flag, value in pairs.items() if value] + self.extra


class ArrayJob(BaseModel):
    job_id: str
    offset: int
    batches: list[int]


class Submission(BaseModel):
    """One `submit` or `resume`: its arrays (none when only the gather was missing) and gather."""

    arrays: list[ArrayJob]
    gather: str
    time: str | None = None
    at: datetime = Field(default_factory=lambda: datetime.now(UTC))


class SlurmJobs(BaseModel):
    """Every submission of a run, newest last (the store's `scatter-gather/slurm.json`)."""

    submissions: list[Submission] = Field(default_factory=list)

    def job_ids(self) -> list[str]:
        return [j for s in self.submissions for j in (*(a.job_id for a in s.arrays), s.gather)]

    def element(self, job: str) -> int | None:
        """The batch an array element (`123_4`) ran, or None if it is not one of this run's."""
        array, _, index = job.partition("_")
        for a in (a for s in self.submissions for a in s.arrays):
            if a.job_id == array and index.isdigit():
                return a.offset + int(index)
        return None


def read_jobs(store: Store, run: RunRef) -> SlurmJobs:
    try:
        return SlurmJobs.model_validate_json(store.get_bytes(run.key(SLURM_JOBS)))
    except (StoreError, ValueError):
        return SlurmJobs()


def log_dir(store: Store, run: RunRef) -> Path:
    """Where the jobs' scripts and outputs go: beside the run on a shared filesystem."""
    if isinstance(store, LocalStore):
        return store.root / run.key(LOGS)
    return Path.cwd() / "slurm-logs" / run.prefix


def _script(folder: Path, run: RunRef, kind: str) -> Path:
    """The job script: the submitting interpreter (on the shared filesystem) runs `job.py`."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{kind}.sh"
    args = [sys.executable, "-m", "scythe.backends.slurm.job", kind, run.model_dump_json()]
    tail = ' "$SCYTHE_SLURM_OFFSET"' if kind == "batch" else ""
    path.write_text(f"#!/bin/bash\n# written by Scythe for {run.prefix}\nexec {shlex.join(args)}{tail}\n")
    return path


def _chunks(batches: Sequence[int], max_array: int) -> list[tuple[int, list[int]]]:
    """(offset, batches) groups whose indices (batch - offset) stay below `max_array`."""
    groups: list[tuple[int, list[int]]] = []
    for b in sorted(batches):
        if groups and b - groups[-1][0] < max_array:
            groups[-1][1].append(b)
        else:
            groups.append((b, [b]))
    return groups


def submit(
    store: Store, run: RunRef, batches: Sequence[int], resources: Resources, max_array: int
) -> Submission:
    """Submit `batches` as job arrays and the gather after them; record it in the store."""
    folder = log_dir(store, run)
    name = f"--job-name=scythe-{run.experiment}"
    arrays = []
    if batches:
        script = _script(folder, run, "batch")
        for offset, group in _chunks(batches, max_array):
            flags = [
                name,
                f"--array={commands.array_spec([b - offset for b in group], resources.array_limit)}",
                f"--output={folder}/batch-%A_%a.out",
                f"--export=ALL,SCYTHE_SLURM_OFFSET={offset}",
                "--requeue",  # preempted: Slurm runs it again; a commit record makes that harmless
                *resources.flags(),
            ]
            arrays.append(ArrayJob(job_id=commands.submit(script, flags), offset=offset, batches=group))
    after = [f"--dependency=afterany:{':'.join(a.job_id for a in arrays)}"] if arrays else []
    gather_flags = [name, f"--output={folder}/gather-%j.out", *after, *resources.flags(gather=True)]
    gather = commands.submit(_script(folder, run, "gather"), gather_flags)
    submission = Submission(arrays=arrays, gather=gather, time=resources.time)
    jobs = read_jobs(store, run)
    jobs.submissions.append(submission)
    store.put_bytes(run.key(SLURM_JOBS), jobs.model_dump_json(indent=1).encode())
    return submission


def stopped_by_slurm(store: Store, run: RunRef, jobs: SlurmJobs, batches: Sequence[int]) -> dict[int, str]:
    """Of `batches`, those whose last element was stopped by Slurm, with why (`TIME LIMIT`, …)."""
    folder = log_dir(store, run)
    why: dict[int, str] = {}
    wanted = set(batches)
    for s in jobs.submissions:
        for a in s.arrays:
            for b in a.batches:
                if b not in wanted:
                    continue
                out = folder / f"batch-{a.job_id}_{b - a.offset}.out"
                text = out.read_text(errors="replace") if out.is_file() else ""
                cause = next((c for c in _CAUSES if f"DUE TO {c}" in text), None)
                if cause is not None:
                    why[b] = cause.lower()
                elif "CANCELLED" in text:
                    why[b] = "cancelled"
                else:
                    why.pop(b, None)  # a later attempt's log says nothing: not stopped by Slurm
    return why
