"""Where each file of a run lives in a store, and how runs are named.

The layout is upstream scythe-engine's, so scripts written against its buckets keep working:
`<experiment>/<version>/<run id>/{manifest.yml, specs.pq, final/…}`.

Every name a user (or a stored record) supplies that becomes one segment of a key goes through
`store_name`, so no experiment, version, run id, output file or shard can climb out of its run
with `..`, a separator or an absolute path, on a local directory or on S3.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict

from scythe.errors import ScytheError

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
GATHER_CLAIM = "scatter-gather/gather-claim.json"  # the Hatchet batch that gathers its run
SLURM_JOBS = "scatter-gather/slurm.json"  # a Slurm run's job ids, one entry per submission


MAX_NAME = 200  # well under the 255 bytes a file name may have, leaving room for `.part` temps
_NAME = re.compile(r"[A-Za-z0-9._-]+")
_ALLOWED = "use only letters, digits, '.', '-' and '_'"


def _name_problem(value: str) -> str | None:
    """Why `value` cannot be one segment of a store key, or None. Plain ASCII on purpose: the
    same bytes must name the same file on every filesystem and S3 (no Unicode normalisation
    surprises) and appear unescaped in the `file://` and `s3://` URIs of result_file_refs."""
    if not value:
        return "it is empty"
    if len(value) > MAX_NAME:
        return f"it has {len(value)} characters, at most {MAX_NAME} fit"
    if "/" in value or "\\" in value:
        return f"it contains a path separator; {_ALLOWED}"
    if value in (".", ".."):
        return "'.' and '..' are moves between folders, not names"
    if value.strip() != value:
        return "it starts or ends with whitespace"
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        return "it contains a control character"
    if value.startswith("."):
        return "it starts with '.' (hidden: a store's listings skip it)"
    if not _NAME.fullmatch(value):
        return _ALLOWED
    return None


def store_name(value: str, what: str) -> str:
    """`value`, if it is safe as one segment of a store key; else one line naming `what`.

    The one validator for every name that becomes a store folder or file, so none of them can
    write outside its run (`../../evil`), hide from listings (`.x`) or fail on one filesystem
    only. `what` reads after "cannot name", e.g. "an experiment".
    """
    problem = _name_problem(value)
    if problem is not None:
        raise ScytheError(f"{value!r} cannot name {what}: {problem} (it becomes a store folder or file)")
    return value


def is_store_name(value: str) -> bool:
    """Whether `store_name` would accept `value`: for skipping stray folders found in a store."""
    return _name_problem(value) is None


def _named(what: str) -> AfterValidator:
    # The ScytheError is not a ValueError, so pydantic lets it through unwrapped: `RunRef(...)`
    # built from a user's `experiment/version/run_id` fails with the one line the CLI prints,
    # not a ValidationError (which the CLI would report as "invalid setting").
    return AfterValidator(lambda value: store_name(value, what))


class RunRef(BaseModel):
    """Names one run of one experiment version in one store; small enough to ride in a task.

    Its three names are checked with `store_name` wherever a RunRef is made (by allocation, from
    a user's argument, from a task's JSON input), so every key below stays inside its run.
    """

    model_config = ConfigDict(frozen=True)

    store: str
    experiment: Annotated[str, _named("an experiment")]
    version: Annotated[str, _named("a version")]
    run_id: Annotated[str, _named("a run id")]

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
        """A batch's file; `name` may come from a stored commit record, so it is checked."""
        return self.key(f"{RESULTS}/{batch:06d}/{store_name(name, 'a shard file')}")

    def final(self, name: str) -> str:
        """A final table; `name` is a user's dataframe name (via commit records), so it is checked."""
        return self.key(f"{FINAL}/{store_name(name, 'a final table')}.pq")

    def output_file(self, sort_index: int, field: str, filename: str) -> str:
        """Where a spec's returned file goes; `filename` is the user's own file's name."""
        field = store_name(field, "an output field")
        return self.key(f"outputs/{sort_index:09d}/{field}/{store_name(filename, 'an output file')}")


def new_run_id(taken: list[str], now: datetime | None = None) -> str:
    """Upstream's sortable `2026-11-26_01-30-00` (UTC), moved on a second past any id `taken`."""
    moment = (now or datetime.now(UTC)).replace(microsecond=0)
    while moment.strftime(RUN_ID_FORMAT) in taken:
        moment += timedelta(seconds=1)
    return moment.strftime(RUN_ID_FORMAT)


def is_run_id(name: str) -> bool:
    return bool(_RUN_ID.match(name))
