"""Where each file of a run lives in a store, how runs are named, and how versions are resolved.

The layout is upstream scythe-engine's, so scripts written against its buckets keep working:
`<experiment>/<version>/<run id>/{manifest.yml, specs.pq, final/…}`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict

from scythe.errors import ScytheError

VersionStrategy = Literal["bumpmajor", "bumpminor", "bumppatch", "keep"]
STRATEGIES: tuple[str, ...] = ("bumpmajor", "bumpminor", "bumppatch", "keep")
_VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)$")
_RUN_ID = re.compile(r"^\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}$")
RUN_ID_FORMAT = "%Y-%m-%d_%H-%M-%S"

MANIFEST = "manifest.yml"
IO_SPEC = "experiment_io_spec.yml"
INPUT_ARTIFACTS = "input_artifacts.yml"
SPECS = "specs.pq"
FINAL = "final"
SCALARS = "final/scalars.pq"
FILE_REFS = "final/result_file_refs.pq"
ERRORS = "final/errors.pq"
ARTIFACTS = "artifacts"
INPUTS = "scatter-gather/inputs"
RESULTS = "scatter-gather/results"
COMMIT = "_SUCCESS.json"
CLAIM = "scatter-gather/claim.json"


class RunRef(BaseModel):
    """Names one run of one experiment version in one store; small enough to ride in a task."""

    model_config = ConfigDict(frozen=True)

    store: str
    experiment: str
    version: str
    run_id: str

    @property
    def prefix(self) -> str:
        return f"{self.experiment}/{self.version}/{self.run_id}"

    @property
    def experiment_id(self) -> str:
        return self.prefix

    def key(self, name: str) -> str:
        return f"{self.prefix}/{name}"

    def batch_input(self, batch: int) -> str:
        return self.key(f"{INPUTS}/{batch:06d}.pq")

    def shard(self, batch: int, name: str) -> str:
        return self.key(f"{RESULTS}/{batch:06d}/{name}")

    def final(self, name: str) -> str:
        return self.key(f"{FINAL}/{name}.pq")

    def output_file(self, sort_index: int, field: str, filename: str) -> str:
        return self.key(f"outputs/{sort_index:09d}/{field}/{filename}")


def new_run_id(taken: list[str], now: datetime | None = None) -> str:
    """Upstream's sortable `2026-11-26_01-30-00` (UTC), moved on a second past any id `taken`."""
    moment = (now or datetime.now(UTC)).replace(microsecond=0)
    while moment.strftime(RUN_ID_FORMAT) in taken:
        moment += timedelta(seconds=1)
    return moment.strftime(RUN_ID_FORMAT)


def is_run_id(name: str) -> bool:
    return bool(_RUN_ID.match(name))


def parse_version(text: str) -> tuple[int, int, int]:
    match = _VERSION.match(text.strip())
    if not match:
        raise ScytheError(
            f"{text!r} is not a version: use MAJOR.MINOR.PATCH or one of {', '.join(STRATEGIES)}"
        )
    major, minor, patch = (int(g) for g in match.groups())
    return major, minor, patch


def format_version(version: tuple[int, int, int]) -> str:
    return "v{}.{}.{}".format(*version)


def resolve_version(requested: str, existing: list[str]) -> str:
    """An explicit version, or a strategy applied to the newest version already in the store.

    With nothing stored yet every strategy gives v1.0.0, as upstream scythe-engine does.
    """
    if requested not in STRATEGIES:
        return format_version(parse_version(requested))
    versions = sorted(parse_version(v) for v in existing if _VERSION.match(v))
    if not versions:
        return "v1.0.0"
    major, minor, patch = versions[-1]
    if requested == "bumpmajor":
        return format_version((major + 1, 0, 0))
    if requested == "bumpminor":
        return format_version((major, minor + 1, 0))
    if requested == "bumppatch":
        return format_version((major, minor, patch + 1))
    return format_version((major, minor, patch))
