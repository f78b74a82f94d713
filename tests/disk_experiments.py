"""Experiments that do things to the filesystem under the store (item 10); `disk_experiments:<name>`.

Each acts once, mid-run, at the spec that carries an action, and only while its `arm` file
(outside the store) exists: the spec removes it first, so a resumed run does not act again.
"""

from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path
from typing import Literal

from pydantic import Field

from scythe.base import ExperimentInputSpec, ExperimentOutputSpec, FileReference
from scythe.registry import ExperimentRegistry

CHUNK = b"\0" * (64 * 1024)


class DiskInput(ExperimentInputSpec):
    """A point whose spec may fill the store's disk, make it read-only, or write a big file."""

    x: float = Field(ge=0, le=100)
    action: Literal["none", "fill", "readonly", "own_write"] = "none"
    target: str = Field(default="", description="The ballast file, the mount point, or the file to write.")
    arm: str = Field(default="", description="The action happens only while this file exists.")
    size: int = Field(default=0, ge=0, description="Bytes of the file `bulky` returns.")


class DiskOutput(ExperimentOutputSpec):
    y: float


class BulkyOutput(ExperimentOutputSpec):
    y: float
    blob: FileReference


def _armed(spec: DiskInput) -> bool:
    if spec.action == "none" or not os.path.exists(spec.arm):
        return False
    os.unlink(spec.arm)
    return True


def fill(path: Path) -> None:
    """Write `path` until the filesystem has no space left (what another program does to a disk)."""
    with path.open("wb", buffering=0) as out:
        while True:
            try:
                out.write(CHUNK)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                return


def _write_own_file(path: Path, size: int) -> None:
    """The spec's own work writing to a disk too small for it: its OSError is the spec's failure."""
    try:
        with path.open("wb") as out:
            for _ in range(size // len(CHUNK) + 1):
                out.write(CHUNK)
    finally:
        path.unlink(missing_ok=True)  # as a tempfile would: the failed spec takes its debris along


@ExperimentRegistry.Register(name="hog")
def hog(input_spec: DiskInput) -> DiskOutput:
    """x², after doing its action to the disk (once) when it has one."""
    if _armed(input_spec):
        if input_spec.action == "fill":
            fill(Path(input_spec.target))
        elif input_spec.action == "readonly":
            subprocess.run(["mount", "-o", "remount,ro", input_spec.target], check=True)
        else:
            _write_own_file(Path(input_spec.target), input_spec.size)
    return DiskOutput(y=input_spec.x**2)


@ExperimentRegistry.Register(name="bulky")
def bulky(input_spec: DiskInput, tempdir: Path) -> BulkyOutput:
    """Returns a file of `size` bytes (written in its scratch dir, outside the store)."""
    blob = tempdir / "blob.bin"
    with blob.open("wb") as out:
        out.truncate(input_spec.size)
    return BulkyOutput(y=input_spec.x, blob=blob)
