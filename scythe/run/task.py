"""One task: run a batch of specs through the experiment and commit its result shard.

Both backends call `run_batch`, so a laptop run and a thousand-worker run produce the same
shards. A shard is a handful of Parquet files plus a commit record written last; a batch without
its commit record is simply run again, so a crash mid-batch never leaves a half result behind.
"""

from __future__ import annotations

import io
import logging
import signal
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import AnyUrl

from scythe.context import using_logger, using_settings
from scythe.registry import Experiment, load_experiment
from scythe.run.commits import BatchOutcome, FrameShard
from scythe.run.layout import COMMIT, RunRef
from scythe.run.manifest import Manifest, cached_manifest
from scythe.settings import ScytheSettings, get_settings
from scythe.specs import ExperimentInputSpec, ExperimentOutputSpec
from scythe.store import Store, put_table

RESERVED_FRAMES = frozenset({"scalars", "result_file_refs", "errors"})
_PRIMITIVE = (int, float, str, bool, type(None))


class _Failure(Exception):
    def __init__(self, exc: BaseException, attempts: int) -> None:
        self.exc = exc
        self.attempts = attempts


class _Rows:
    """What a batch accumulates before it is written."""

    def __init__(self) -> None:
        self.scalars: list[dict[str, Any]] = []
        self.file_refs: list[dict[str, Any]] = []
        self.errors: list[dict[str, Any]] = []
        self.frames: dict[str, list[pa.Table]] = {}
        self.frame_index: dict[str, list[str]] = {}


def run_batch(
    run: RunRef,
    batch: int,
    *,
    root_workflow_run_id: str | None = None,
    workflow_run_id: str | None = None,
    logger: logging.Logger | logging.LoggerAdapter[logging.Logger] | None = None,
    settings: ScytheSettings | None = None,
) -> BatchOutcome:
    """Execute batch `batch` of `run` and commit its shard; idempotent (a re-run overwrites).

    `settings` are the worker's (read once where it started); only a direct call reads them here.
    """
    started = time.perf_counter()
    settings = settings or get_settings()
    store = settings.open_store(run.store)
    manifest = cached_manifest(store, run)
    experiment = load_experiment(manifest.experiment_ref)
    # A batch's inputs are small: one GET into memory (no temp file, no transfer threads).
    data = store.get_bytes(run.batch_input(batch))
    rows: list[dict[str, Any]] = pq.ParquetFile(pa.BufferReader(data)).read(use_threads=False).to_pylist()
    index_names = experiment.input_spec.index_fields()
    buffer = io.StringIO()
    task_log = _capturing_logger(buffer, logger)
    out = _Rows()
    with using_logger(task_log), using_settings(settings), _alarm_handler():
        for row in rows:
            if root_workflow_run_id:
                row["root_workflow_run_id"] = root_workflow_run_id
            index = {name: row.get(name) for name in index_names}
            _run_spec(experiment, manifest, row, index, workflow_run_id, store, run, out)
    outcome = _write_shard(store, run, batch, out)
    outcome.seconds = round(time.perf_counter() - started, 6)
    if buffer.getvalue():
        store.put_bytes(run.shard(batch, "log.txt"), buffer.getvalue().encode())
    store.put_bytes(run.shard(batch, COMMIT), outcome.model_dump_json().encode())
    return outcome


def _run_spec(
    experiment: Experiment[Any, Any],
    manifest: Manifest,
    row: dict[str, Any],
    index: dict[str, Any],
    workflow_run_id: str | None,
    store: Store,
    run: RunRef,
    out: _Rows,
) -> None:
    def finish(output: ExperimentOutputSpec) -> _SpecResult:
        # Runs while the scratch dir still exists: returned files are uploaded from it.
        frames = {
            _frame_name(name): (_prefixed(frame, index), [*index, *_user_index(frame)])
            for name, frame in output.dataframes.items()
        }
        refs = _upload_outputs(output, int(index["sort_index"]), store, run)
        return {**index, **_scalars(output)}, ({**index, **refs} if refs else None), frames

    try:
        spec = experiment.input_spec.model_validate({**row, "workflow_run_id": workflow_run_id})
        scalars, refs, frames = _attempts(experiment, spec, manifest, finish)
    except _Failure as failure:
        out.errors.append({**index, **_error_columns(failure.exc, failure.attempts)})
        return
    except Exception as exc:
        out.errors.append({**index, **_error_columns(exc, 1)})
        return
    out.scalars.append(scalars)
    if refs is not None:
        out.file_refs.append(refs)
    for name, (frame, frame_index) in frames.items():
        out.frames.setdefault(name, []).append(frame)
        out.frame_index.setdefault(name, frame_index)


_SpecResult = tuple[dict[str, Any], dict[str, Any] | None, dict[str, tuple[pa.Table, list[str]]]]


def _attempts(
    experiment: Experiment[Any, Any],
    spec: ExperimentInputSpec,
    manifest: Manifest,
    finish: Callable[[ExperimentOutputSpec], _SpecResult],
) -> _SpecResult:
    attempts = manifest.retries + 1
    for attempt in range(1, attempts + 1):
        try:
            with _scratch(experiment.takes_tempdir) as tmp, _deadline(manifest.timeout):
                output = experiment(spec, tmp) if tmp is not None else experiment(spec)
                if not isinstance(output, experiment.output_spec):
                    raise TypeError(
                        f"{experiment.name} returned {type(output).__name__}, "
                        f"not {experiment.output_spec.__name__}"
                    )
                return finish(output)
        except Exception as exc:
            if attempt == attempts:
                raise _Failure(exc, attempt) from exc
    raise AssertionError("unreachable")


@contextmanager
def _scratch(wanted: bool) -> Iterator[Path | None]:
    """A fresh scratch dir, only for experiments that take one (mkdir + rmtree cost ~0.3 ms a spec)."""
    if not wanted:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="scythe-task-") as tmp:
        yield Path(tmp)


class _Expired(Exception):
    """Raised by SIGALRM inside a spec; turned into a TimeoutError that names the limit."""


def _expire(signum: int, frame: object) -> None:
    raise _Expired


_alarm = threading.local()  # .installed: this thread's batch set the SIGALRM handler


@contextmanager
def _alarm_handler() -> Iterator[None]:
    """Install the SIGALRM handler once per batch (in a worker's main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGALRM, _expire)
    _alarm.installed = True
    try:
        yield
    finally:
        _alarm.installed = False
        signal.signal(signal.SIGALRM, previous)


@contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    """Enforce the experiment's timeout where a signal can interrupt it (a worker's main thread)."""
    if not getattr(_alarm, "installed", False):
        yield
        return
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    except _Expired:
        raise TimeoutError(f"the spec ran longer than its timeout of {seconds:g} s") from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def _scalars(output: ExperimentOutputSpec) -> dict[str, Any]:
    fields = output.scalar_fields()
    values = {name: getattr(output, name) for name in fields}
    if all(isinstance(v, _PRIMITIVE) for v in values.values()):
        return values
    as_json = output.model_dump(mode="json", include=set(fields))
    return {n: v if isinstance(v, _PRIMITIVE) else as_json[n] for n, v in values.items()}


def _upload_outputs(
    output: ExperimentOutputSpec, sort_index: int, store: Store, run: RunRef
) -> dict[str, str]:
    refs: dict[str, str] = {}
    for name in output.file_fields():
        value = getattr(output, name)
        if isinstance(value, Path):
            key = run.output_file(sort_index, name, value.name)
            store.put_file(key, value)
            refs[name] = store.uri_for(key)
        elif isinstance(value, AnyUrl):
            refs[name] = str(value)
    return refs


def _frame_name(name: str) -> str:
    if name in RESERVED_FRAMES or not name.replace("_", "").replace("-", "").isalnum():
        raise ValueError(
            f"dataframe name {name!r} is not allowed: use letters, digits, '-' or '_', "
            f"and none of {sorted(RESERVED_FRAMES)}"
        )
    return name


def _prefixed(frame: pd.DataFrame, index: dict[str, Any]) -> pa.Table:
    """The user's frame as Arrow, with the spec's index in front of its own index levels."""
    flat = frame.reset_index() if _meaningful_index(frame) else frame.reset_index(drop=True)
    table = pa.Table.from_pandas(flat, preserve_index=False).replace_schema_metadata(None)
    clash = set(index) & set(table.column_names)
    if clash:
        raise ValueError(f"dataframe columns {sorted(clash)} clash with the spec's index levels")
    for position, (name, value) in enumerate(index.items()):
        table = table.add_column(position, name, pa.array([value] * len(table)))
    return table


def _meaningful_index(frame: pd.DataFrame) -> bool:
    return not (isinstance(frame.index, pd.RangeIndex) and frame.index.name is None)


def _user_index(frame: pd.DataFrame) -> list[str]:
    return [str(n) for n in frame.index.names] if _meaningful_index(frame) else []


def _error_columns(exc: BaseException, attempts: int) -> dict[str, Any]:
    return {
        "error_type": type(exc).__name__,
        "message": str(exc),
        "traceback": "".join(traceback.format_exception(exc)),
        "attempts": attempts,
    }


def _capturing_logger(
    buffer: io.StringIO, parent: logging.Logger | logging.LoggerAdapter[logging.Logger] | None
) -> logging.Logger:
    # A standalone logger (not registered with logging's manager): one per batch, freed with it,
    # and batches running in parallel threads (Hatchet slots) never share one.
    logger = logging.Logger("scythe.task.batch")
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    if parent is not None:
        logger.addHandler(_Forward(parent))
    return logger


class _Forward(logging.Handler):
    def __init__(self, target: logging.Logger | logging.LoggerAdapter[logging.Logger]) -> None:
        super().__init__()
        self.target = target

    def emit(self, record: logging.LogRecord) -> None:
        self.target.log(record.levelno, record.getMessage())


def _write_shard(store: Store, run: RunRef, batch: int, out: _Rows) -> BatchOutcome:
    outcome = BatchOutcome(batch=batch, succeeded=len(out.scalars), failed=len(out.errors))
    outcome.scalars = _put_rows(store, run, batch, "scalars.pq", out.scalars)
    outcome.file_refs = _put_rows(store, run, batch, "result_file_refs.pq", out.file_refs)
    outcome.errors = _put_rows(store, run, batch, "errors.pq", out.errors)
    for name, frames in out.frames.items():
        file = f"df-{name}.pq"
        put_table(store, run.shard(batch, file), pa.concat_tables(frames, promote_options="permissive"))
        outcome.frames[name] = FrameShard(file=file, index=out.frame_index[name])
    return outcome


def _put_rows(store: Store, run: RunRef, batch: int, name: str, rows: list[dict[str, Any]]) -> str | None:
    if not rows:
        return None
    put_table(store, run.shard(batch, name), pa.Table.from_pylist(rows))
    return name
