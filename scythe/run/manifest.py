"""`manifest.yml`: what a run is (experiment, version, code, image, batching), written last.

Its presence marks an allocation as complete; everything a worker or `resume` needs to carry on
is in it, and nothing secret is.
"""

from __future__ import annotations

import math
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Self

import yaml
from pydantic import AfterValidator, BaseModel, Field, ValidationError, model_validator

from scythe._git import git
from scythe.errors import ScytheError
from scythe.registry import split_ref
from scythe.run.layout import MANIFEST, RUN_ID_FORMAT, RunRef, is_run_id, is_store_name, store_name
from scythe.store import Store


def _named(what: str) -> AfterValidator:
    return AfterValidator(lambda value: store_name(value, what))


def _importable(ref: str) -> str:
    """`ref`, if it has the shape workers import (`mod.path:function`); one line if not."""
    split_ref(ref)
    return ref


class Manifest(BaseModel):
    """A run's record. Everything in it is checked when it is read back, as a user's input
    would be: a hand-edited or damaged manifest must not steer a worker outside its run (`..`),
    to an unimportable experiment (`:`), or into batches that do not cover the design."""

    experiment: Annotated[str, _named("an experiment")]
    version: Annotated[str, _named("a version")]
    run_id: Annotated[str, _named("a run id")]
    experiment_id: str
    experiment_ref: Annotated[str, AfterValidator(_importable)] = Field(
        description="module:function that workers import"
    )
    n_specs: int = Field(ge=1)
    batch_size: int = Field(ge=1)
    n_batches: int = Field(ge=1)
    retries: int = Field(ge=0)
    timeout: float = Field(gt=0)
    backend: str
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    git_sha: str | None = None
    image: str | None = None
    scythe_version: str
    computed_features: list[str] = Field(
        default_factory=list, description="the specs' computed features: index levels after the input fields"
    )

    @model_validator(mode="after")
    def _batches_cover_the_specs(self) -> Self:
        if self.n_batches != math.ceil(self.n_specs / self.batch_size):
            raise ValueError(
                f"n_batches is {self.n_batches}, but {self.n_specs} specs in batches of "
                f"{self.batch_size} make {math.ceil(self.n_specs / self.batch_size)}"
            )
        return self

    def batch_range(self, batch: int) -> range:
        start = batch * self.batch_size
        return range(start, min(start + self.batch_size, self.n_specs))


def write_manifest(store: Store, run: RunRef, manifest: Manifest) -> None:
    text = yaml.safe_dump(manifest.model_dump(mode="json"), sort_keys=False)
    store.put_bytes(run.key(MANIFEST), text.encode())


def read_manifest(store: Store, run: RunRef) -> Manifest:
    """The run's manifest, or one line naming the file and what is wrong with it."""
    key = run.key(MANIFEST)
    if not store.exists(key):
        raise ScytheError(
            f"{store.uri_for(run.prefix)} has no manifest.yml: not a run, or its allocation never finished"
        )
    damaged = f"{store.uri_for(key)} is damaged"
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        data = yaml.load(store.get_bytes(key), Loader=loader)
    except yaml.YAMLError as exc:
        raise ScytheError(f"{damaged}: not valid YAML ({_yaml_problem(exc)})") from None
    if not isinstance(data, dict):
        raise ScytheError(f"{damaged}: not a mapping of the run's fields")
    try:
        manifest = Manifest.model_validate(data)
    except ValidationError as exc:
        raise ScytheError(f"{damaged}: {_validation_problems(exc)}") from None
    except ScytheError as exc:  # a name `store_name` refused
        raise ScytheError(f"{damaged}: {exc}") from None
    named = f"{manifest.experiment}/{manifest.version}/{manifest.run_id}"
    if named != run.prefix or manifest.experiment_id != run.experiment_id:
        raise ScytheError(f"{damaged}: it names the run {named}, not {run.prefix}, where it is")
    return manifest


def _validation_problems(exc: ValidationError) -> str:
    """Each field pydantic refused, `field: why`, on one line."""
    problems = []
    for error in exc.errors(include_url=False):
        where = ".".join(map(str, error["loc"]))
        why = error["msg"].removeprefix("Value error, ")
        problems.append(f"{where}: {why}" if where else why)
    return "; ".join(problems)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """PyYAML's multi-line message as one line: the problem and where it is."""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    mark = getattr(exc, "problem_mark", None)
    return f"{problem} at line {mark.line + 1}, column {mark.column + 1}" if mark else str(problem)


_MANIFESTS: dict[RunRef, Manifest] = {}
_MANIFESTS_LOCK = threading.Lock()
MANIFESTS_CACHED = 32


def cached_manifest(store: Store, run: RunRef) -> Manifest:
    """A run's manifest never changes once written, so a worker reads it once (a `RunRef` names
    its store, so it is the whole key); the oldest of more than 32 runs is forgotten."""
    found = _MANIFESTS.get(run)
    if found is None:
        found = read_manifest(store, run)
        with _MANIFESTS_LOCK:  # Hatchet slots are threads
            _MANIFESTS[run] = found
            if len(_MANIFESTS) > MANIFESTS_CACHED:
                del _MANIFESTS[next(iter(_MANIFESTS))]
    return found


def git_sha(where: Path) -> str | None:
    """The commit of the experiment's code, so a result can be traced to its source."""
    return git(where, "rev-parse", "HEAD", timeout=10) or None


LATEST = "latest"
_ID_SHAPE = "0000-00-00_00-00-00"  # a run id's shape: digits where 0, these separators elsewhere
SHOWN_CANDIDATES = 5
LATEST_WINDOW = 120  # seconds: ids this close to the greatest may have been bumped past it


def find_run(store: Store, ref: str) -> RunRef:
    """The run a user's RUN names, or one line saying why none (or which several) it names.

    RUN is `experiment/version/run_id`, a run id, a unique prefix of one (`2026-12-02_05`, also
    after `experiment/version/`), `latest` (the store's newest allocated run), or
    `EXPERIMENT@latest` / `EXPERIMENT/VERSION@latest`: typing a full timestamp is the most
    common thing a researcher does with a run, so every command takes the short forms.
    """
    text = ref.strip().strip("/")
    head, at, tag = text.partition("@")
    if at:
        if tag != LATEST or not head:
            raise ScytheError(
                f"{ref!r} is not a run: after '@' only 'latest' is understood, e.g. EXPERIMENT@latest"
            )
        return _latest(store, ref, _runs_under(store, head))
    if text == LATEST:
        return _latest(store, ref, list_runs(store))
    parts = text.split("/")
    if len(parts) == 3 and is_run_id(parts[2]):
        run = RunRef(store=store.uri, experiment=parts[0], version=parts[1], run_id=parts[2])
        read_manifest(store, run)
        return run
    if len(parts) == 3 and _is_id_prefix(parts[2]):
        return _unique(store, ref, parts[2], _runs_under(store, f"{parts[0]}/{parts[1]}"))
    if len(parts) == 1 and _is_id_prefix(parts[0]):
        return _unique(store, ref, parts[0], list_runs(store))
    experiment = len(parts) == 1 and is_store_name(text) and text in store.children("")
    hint = f"; {text}@latest names the experiment's newest run" if experiment else ""
    raise ScytheError(
        f"{ref!r} is not a run: give experiment/version/run_id, a run id or a unique prefix of one, "
        f"latest or EXPERIMENT@latest{hint}"
    )


def _is_id_prefix(text: str) -> bool:
    """Whether `text` is the start of a run id (`2026-12`), so it is looked up as a prefix."""
    if not text or len(text) > len(_ID_SHAPE):
        return False
    return all(c.isdigit() if s == "0" else c == s for c, s in zip(text, _ID_SHAPE, strict=False))


def _runs_under(store: Store, head: str) -> list[RunRef]:
    """The runs of `experiment` or `experiment/version` (one line if there are none)."""
    names = head.split("/")
    if len(names) > 2:
        raise ScytheError(f"{head!r} is not an experiment or experiment/version (before @latest)")
    experiment = store_name(names[0], "an experiment")
    versions = [store_name(names[1], "a version")] if len(names) == 2 else store.children(experiment)
    found = [
        RunRef(store=store.uri, experiment=experiment, version=v, run_id=r)
        for v in versions
        if is_store_name(v)
        for r in store.children(f"{experiment}/{v}")
        if is_run_id(r)
    ]
    if not found:
        here = sorted(e for e in store.children("") if is_store_name(e))
        listed = f" (experiments here: {', '.join(here)})" if here else " (it holds no runs)"
        raise ScytheError(f"no run of {head} in {store.uri}{listed}")
    return found


def _latest(store: Store, ref: str, runs: list[RunRef]) -> RunRef:
    """The most recently allocated of `runs` (a run still being written has no manifest, and
    does not count). Run ids are their allocation's second, moved on past ids taken in the same
    version, so a run allocated later can hold a smaller id than another version's: the runs
    within `LATEST_WINDOW` of the greatest id are told apart by their manifests' times. Only
    those are looked at (a store of 10^3 runs costs a few requests, not 10^3)."""
    close: list[RunRef] = []
    for run in sorted(runs, key=lambda r: r.run_id, reverse=True):
        if close and (_id_time(close[0].run_id) - _id_time(run.run_id)).total_seconds() > LATEST_WINDOW:
            break
        if store.exists(run.key(MANIFEST)):
            close.append(run)
    if not close:
        raise ScytheError(f"no allocated run for {ref!r} in {store.uri}")
    if len(close) == 1:
        return close[0]
    return max(close, key=lambda r: (read_manifest(store, r).created_at, r.run_id, r.prefix))


def _id_time(run_id: str) -> datetime:
    return datetime.strptime(run_id, RUN_ID_FORMAT)


def _unique(store: Store, ref: str, prefix: str, runs: list[RunRef]) -> RunRef:
    """The one run whose id is `prefix` or starts with it; one line listing them if several do."""
    exact = [r for r in runs if r.run_id == prefix]
    matches = sorted(exact or [r for r in runs if r.run_id.startswith(prefix)], key=lambda r: r.prefix)
    if not matches:
        raise ScytheError(f"no run {ref!r} in {store.uri}")
    if len(matches) > 1:
        shown = ", ".join(m.prefix for m in matches[:SHOWN_CANDIDATES])
        more = f" and {len(matches) - SHOWN_CANDIDATES} more" if len(matches) > SHOWN_CANDIDATES else ""
        what, fix = (
            ("run id", "give experiment/version/run_id") if exact else ("run id prefix", "give more of it")
        )
        raise ScytheError(f"{what} {ref!r} is ambiguous: {shown}{more}; {fix}")
    return matches[0]


def list_runs(store: Store) -> list[RunRef]:
    return [
        RunRef(store=store.uri, experiment=e, version=v, run_id=r)
        for e in store.children("")
        if is_store_name(e)
        for v in store.children(e)
        if is_store_name(v)
        for r in store.children(f"{e}/{v}")
        if is_run_id(r)
    ]
