"""Where each file of a run lives in a store, and how runs are named.

The layout is upstream scythe-engine's, so scripts written against its buckets keep working:
`<experiment>/<version>/<run id>/{manifest.yml, specs.pq, final/…}`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, ConfigDict

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
FINAL_SUMMARY = "scatter-gather/gathered.json"  # a gather's summary, written once final/ is whole
HATCHET_ROOT = "scatter-gather/hatchet.json"  # how to find a Hatchet run's tasks


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
