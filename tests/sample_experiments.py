"""Small experiments the tests run; importable as `sample_experiments:<name>`."""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Literal

import pandas as pd
from pydantic import Field

from scythe.base import ExperimentInputSpec, ExperimentOutputSpec, FileReference
from scythe.registry import ExperimentRegistry


class PointInput(ExperimentInputSpec):
    """A point of a toy sweep."""

    x: float = Field(ge=0, le=100, description="The abscissa.")
    n: int = Field(default=1, ge=1, le=5, description="Repeats.")
    mode: Literal["fast", "slow"] = "fast"
    trace: str = Field(default="", description="File to append executions to (tests only).")


class PointOutput(ExperimentOutputSpec):
    """What a point yields."""

    y: float = Field(description="x squared.")
    doubled: int


class ReportOutput(ExperimentOutputSpec):
    y: float
    report: FileReference


@ExperimentRegistry.Register(name="square")
def square(input_spec: PointInput) -> PointOutput:
    """x² and a small time series."""
    if input_spec.trace:
        with open(input_spec.trace, "a") as fh:
            fh.write(f"{input_spec.sort_index}\n")
    if input_spec.mode == "slow":
        time.sleep(0.05)
    if input_spec.x == 13:
        raise ValueError("thirteen is unlucky")
    series = pd.DataFrame({"step": range(input_spec.n), "value": [input_spec.x] * input_spec.n})
    return PointOutput(
        y=input_spec.x**2, doubled=input_spec.n * 2, dataframes={"series": series.set_index("step")}
    )


@ExperimentRegistry.Register(name="reporter", retries=2)
def reporter(input_spec: PointInput, tempdir: Path) -> ReportOutput:
    """Writes a file in its scratch dir and returns it."""
    path = tempdir / f"report-{input_spec.sort_index}.txt"
    path.write_text(f"x={input_spec.x}\n")
    return ReportOutput(y=input_spec.x, report=path)


@ExperimentRegistry.Register(name="crasher", retries=1)
def crasher(input_spec: PointInput) -> PointOutput:
    """Kills its own worker process at x == 7 (a segfault stand-in)."""
    if input_spec.x == 7:
        os._exit(1)
    return PointOutput(y=input_spec.x, doubled=0)


@ExperimentRegistry.Register(name="sleepy", timeout=0.2)
def sleepy(input_spec: PointInput) -> PointOutput:
    """Overruns its 0.2 s timeout when x > 1."""
    if input_spec.x > 1:
        time.sleep(5)
    return PointOutput(y=input_spec.x, doubled=0)


@ExperimentRegistry.Register(name="stubborn", retries=2, batch_size=5)
def stubborn(input_spec: PointInput) -> PointOutput:
    """Always raises at x == 13, however often it is retried; slow mode takes 50 ms a spec."""
    if input_spec.mode == "slow":
        time.sleep(0.05)
    if input_spec.x == 13:
        raise RuntimeError("thirteen, again")
    return PointOutput(y=input_spec.x**2, doubled=input_spec.n * 2)


class DoomInput(ExperimentInputSpec):
    """A spec that may do something terrible to its own process."""

    x: float = Field(ge=0, le=100)
    how: Literal[
        "ok",
        "segfault",
        "exit",
        "sigkill",
        "systemexit",
        "keyboard",
        "swallow",
        "wrongtype",
        "badoutput",
        "flaky",
    ] = "ok"


@ExperimentRegistry.Register(name="doomed", retries=2, timeout=0.3)
def doomed(input_spec: DoomInput) -> PointOutput:
    """Does what `how` says; every other spec is an ordinary square."""
    import ctypes
    import signal

    how = input_spec.how
    if how == "segfault":
        ctypes.string_at(0)
    elif how == "exit":
        os._exit(1)
    elif how == "sigkill":  # what the OOM killer does
        os.kill(os.getpid(), signal.SIGKILL)
    elif how == "systemexit":
        raise SystemExit(2)
    elif how == "keyboard":
        raise KeyboardInterrupt
    elif how == "swallow":  # user code that catches the timeout's alarm and carries on
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                time.sleep(10)
    elif how == "wrongtype":
        return {"y": 1.0}  # type: ignore[return-value]
    elif how == "badoutput":
        return PointOutput(y=-1.0, doubled="many")  # type: ignore[arg-type]
    elif how == "flaky":
        raise RuntimeError("flaky, every time")
    return PointOutput(y=input_spec.x**2, doubled=2)


@ExperimentRegistry.Register(name="framer")
def framer(input_spec: PointInput) -> PointOutput:
    """Returns a dataframe whose column `x` would shadow the index level `x` when x == 2."""
    frame = pd.DataFrame({"x" if input_spec.x == 2 else "value": [1.0]})
    return PointOutput(y=input_spec.x, doubled=0, dataframes={"frame": frame})


@ExperimentRegistry.Register(name="chatty")
def chatty(input_spec: PointInput) -> PointOutput:
    """Prints instead of logging, as researchers do."""
    print(f"chatty says {input_spec.x}")
    return PointOutput(y=input_spec.x, doubled=0)
