"""Experiments for issue 12's worker tests: each spec says which process and which worker ran it.

Importable as `worker_witness:<name>` by `scythe worker` (tests/ is on PYTHONPATH). A spec
with `meet` set waits, at most `MEET_SECONDS`, until a spec run by another process (`by="pid"`),
another worker (`by="tag"`) or under another `name` (`by="name"`) has started, and records whether
one did: running side by side is then proven by the specs themselves, with no timing assumption.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import os
import time
import uuid
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from scythe.base import ExperimentInputSpec, ExperimentOutputSpec
from scythe.registry import ExperimentRegistry
from scythe.run import isolation
from scythe.run.execute import SpecJob, SpecOutcome

MEET_SECONDS = 4.0  # below the experiments' 5 s timeout
TAG = "WITNESS_TAG"  # set in a test worker's environment: which worker ran a spec


class WitnessInput(ExperimentInputSpec):
    """What a witness spec does before it reports."""

    x: float = Field(ge=0, description="Any number.")
    how: Literal["ok", "segfault", "swallow"] = "ok"
    meet: str = Field(default="", description="A folder to meet a spec of another process or worker in.")
    by: Literal["pid", "tag", "name"] = "pid"
    name: str = ""
    hold: float = Field(
        default=0.0,
        description="Seconds the spec lasts at least: longer than a bundle's FLUSH_SECONDS, its outcome "
        "reaches the task before a later spec of its process crashes (else that spec is run again).",
    )


class WitnessOutput(ExperimentOutputSpec):
    """Who ran the spec, and when."""

    pid: int
    tag: str
    started: float
    ended: float
    met: bool


def witness_of(spec: WitnessInput) -> WitnessOutput:
    started = time.time()
    if spec.how == "segfault":
        ctypes.string_at(0)
    elif spec.how == "swallow":  # catches the timeout's alarm and carries on: only a kill stops it
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                time.sleep(10)
    me = {"pid": str(os.getpid()), "tag": os.environ.get(TAG, ""), "name": spec.name}[spec.by]
    met = _meet(Path(spec.meet), me) if spec.meet else False
    time.sleep(max(0.0, started + spec.hold - time.time()))  # the spec's own duration, not a wait
    return WitnessOutput(
        pid=os.getpid(), tag=os.environ.get(TAG, ""), started=started, ended=time.time(), met=met
    )


def _meet(folder: Path, me: str) -> bool:
    """Announce `me` in `folder`; True once someone else has announced themselves there."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{me}--{os.getpid()}--{uuid.uuid4().hex}").touch()
    deadline = time.monotonic() + MEET_SECONDS
    while time.monotonic() < deadline:
        if {p.name.split("--")[0] for p in folder.iterdir()} - {me}:
            return True
        time.sleep(0.01)  # polling a folder other processes write: no event to wait on
    return False


@ExperimentRegistry.Register(name="witness", timeout=5)
def witness(input_spec: WitnessInput) -> WitnessOutput:
    """Runs anywhere."""
    return witness_of(input_spec)


@ExperimentRegistry.Register(name="gpu_witness", timeout=5, worker_labels={"gpu": True})
def gpu_witness(input_spec: WitnessInput) -> WitnessOutput:
    """Runs only on workers started with `--label gpu=true`."""
    return witness_of(input_spec)


def witness_request(jobs: list[SpecJob], conn: Any, board: Any) -> None:
    """A request for `isolation.run_isolated` with no run behind it: each job's row is a
    `WitnessInput`, its outcome the witness's output as scalars."""

    def run_one(job: SpecJob, mark: Any) -> SpecOutcome:
        mark()
        output = witness_of(WitnessInput.model_validate(job.row))
        return SpecOutcome(
            job.position, scalars=output.model_dump(include=set(WitnessOutput.scalar_fields()))
        )

    isolation.child_loop(jobs, run_one, conn, board, io.StringIO())
