"""Slurm's own commands (sbatch, squeue, scancel, scontrol, sinfo), each behind one function.

Plain subprocess calls, no Python dependency: the commands exist wherever Slurm does (a login
node, a compute node), and their parsable outputs are stable across Slurm versions. A command
that is missing or refuses is one `BackendError` line quoting Slurm's own message.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from scythe.errors import BackendError

LIVE_STATES = frozenset(
    {"PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "REQUEUED", "RESIZING", "SUSPENDED", "STAGE_OUT"}
)
_LOCAL_HINT = "on a machine without a cluster, `scythe dev up --slurm` starts a local one"


def slurm(argv: Sequence[str], what: str, *, timeout: float = 60) -> str:
    """Run a Slurm command; its stdout, or one line naming what failed and why."""
    binary = shutil.which(argv[0], path=f"{os.environ.get('PATH', '')}:/usr/bin:/usr/local/bin")
    if binary is None:
        raise BackendError(
            f"cannot {what}: `{argv[0]}` is not installed here (Slurm's client); {_LOCAL_HINT}"
        )
    try:
        done = subprocess.run(
            [binary, *argv[1:]], capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        raise BackendError(f"cannot {what}: `{argv[0]}` did not answer in {timeout:.0f} s") from None
    if done.returncode != 0:
        said = (done.stderr.strip() or done.stdout.strip()).splitlines()
        raise BackendError(
            f"cannot {what}: {argv[0]} says: {said[-1] if said else f'exit {done.returncode}'}"
        )
    return done.stdout


def config() -> dict[str, str]:
    """`scontrol show config` as a mapping (`MaxArraySize` → `1001`, …)."""
    pairs = {}
    for line in slurm(["scontrol", "show", "config"], "reach the Slurm controller").splitlines():
        key, sep, value = line.partition("=")
        if sep:
            pairs[key.strip()] = value.strip()
    return pairs


def max_array_size(settings: dict[str, str]) -> int:
    """Array indices must stay below this (Slurm's default is 1001)."""
    try:
        return int(settings.get("MaxArraySize", "1001"))
    except ValueError:
        return 1001


def partition_cpus(partition: str | None) -> int | None:
    """The CPUs the partition (default: the cluster's default one) has in all, or None."""
    out = slurm(["sinfo", "-h", "-o", "%P %C"], "list the partitions")
    for line in out.splitlines():
        name, _, cpus = line.partition(" ")
        default = name.endswith("*")
        if (partition is None and default) or name.rstrip("*") == partition:
            try:
                return int(cpus.split("/")[3])  # allocated/idle/other/total
            except (IndexError, ValueError):
                return None
    return None


def submit(script: Path, flags: Sequence[str]) -> str:
    """sbatch the script with `flags`; the job id (an array's one id)."""
    out = slurm(["sbatch", "--parsable", *flags, str(script)], "submit the run's jobs")
    return out.strip().split(";")[0]


def job_states(job_ids: Sequence[str]) -> dict[str, str]:
    """Every live element of these jobs (`123_4` → `RUNNING`), arrays expanded; ended ones are absent.

    Asks for this user's jobs and keeps the run's: `squeue -j` fails whole as soon as one id has
    been purged (`MinJobAge` after it ended), which a resumed run's older jobs always are.
    """
    if not job_ids:
        return {}
    wanted = set(job_ids)
    out = slurm(
        ["squeue", "-h", "-r", "-u", str(os.geteuid()), "-o", "%i %T"], "ask Slurm for the run's jobs"
    )
    states = {}
    for line in out.splitlines():
        job, _, state = line.strip().partition(" ")
        if job.partition("_")[0] in wanted:
            states[job] = state.strip()
    return states


def test_only(flags: Sequence[str]) -> None:
    """Whether Slurm would accept a job with `flags` (`sbatch --test-only`): bad resources are one
    line before anything of the run is written."""
    slurm(["sbatch", "--test-only", *flags, "--wrap", "true"], "check the run's sbatch options")


def cancel(job_ids: Sequence[str]) -> None:
    if job_ids:
        slurm(["scancel", *job_ids], "cancel the run's jobs")


def array_spec(indices: Sequence[int], limit: int | None) -> str:
    """`0-5,9,11-20%4`: sorted indices as ranges, with the concurrency limit."""
    ranges: list[str] = []
    ordered = sorted(set(indices))
    start = prev = ordered[0]
    for i in [*ordered[1:], None]:
        if i is not None and i == prev + 1:
            prev = i
            continue
        ranges.append(str(start) if start == prev else f"{start}-{prev}")
        if i is not None:
            start = prev = i
    return ",".join(ranges) + (f"%{limit}" if limit else "")
