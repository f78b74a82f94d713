"""`manifest.yml`: what a run is (experiment, version, code, image, batching), written last.

Its presence marks an allocation as complete; everything a worker or `resume` needs to carry on
is in it, and nothing secret is.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import yaml
from pydantic import BaseModel, Field

from scythe._git import git
from scythe.errors import ScytheError
from scythe.run.layout import MANIFEST, RunRef, is_run_id, is_store_name
from scythe.store import Store


class Manifest(BaseModel):
    experiment: str
    version: str
    run_id: str
    experiment_id: str
    experiment_ref: str = Field(description="module:function that workers import")
    n_specs: int
    batch_size: int
    n_batches: int
    retries: int
    timeout: float
    backend: str
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    git_sha: str | None = None
    image: str | None = None
    scythe_version: str

    def batch_range(self, batch: int) -> range:
        start = batch * self.batch_size
        return range(start, min(start + self.batch_size, self.n_specs))


def write_manifest(store: Store, run: RunRef, manifest: Manifest) -> None:
    text = yaml.safe_dump(manifest.model_dump(mode="json"), sort_keys=False)
    store.put_bytes(run.key(MANIFEST), text.encode())


def read_manifest(store: Store, run: RunRef) -> Manifest:
    if not store.exists(run.key(MANIFEST)):
        raise ScytheError(
            f"{store.uri_for(run.prefix)} has no manifest.yml: not a run, or its allocation never finished"
        )
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return Manifest.model_validate(yaml.load(store.get_bytes(run.key(MANIFEST)), Loader=loader))


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


def find_run(store: Store, ref: str) -> RunRef:
    """`experiment/version/run_id` or a bare run id, searched across the store."""
    parts = ref.strip("/").split("/")
    if len(parts) == 3:
        run = RunRef(store=store.uri, experiment=parts[0], version=parts[1], run_id=parts[2])
        read_manifest(store, run)
        return run
    if len(parts) != 1 or not is_run_id(parts[0]):
        raise ScytheError(f"{ref!r} is not a run: give experiment/version/run_id or a run id")
    matches = [
        RunRef(store=store.uri, experiment=e, version=v, run_id=ref)
        for e in store.children("")
        if is_store_name(e)
        for v in store.children(e)
        if is_store_name(v) and ref in store.children(f"{e}/{v}")
    ]
    if not matches:
        raise ScytheError(f"no run {ref!r} in {store.uri}")
    if len(matches) > 1:
        raise ScytheError(f"run id {ref!r} is ambiguous: " + ", ".join(m.prefix for m in matches))
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
