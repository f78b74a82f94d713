"""One spec through the experiment: validate, call (with retries and a timeout), convert the output.

This is what runs inside a batch's spec process (`scythe.run.isolation`): everything here may be
killed at any moment, so nothing here commits anything; it only produces a `SpecOutcome`.
Retries are for the user's function only: a deterministic failure (a wrong return type, the output
spec's own validation, an invalid dataframe) fails at once.
"""

from __future__ import annotations

import functools
import json
import signal
import tempfile
import threading
import time
import traceback
import types
import typing
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
from pydantic import AnyUrl, PlainSerializer, ValidationError, WrapSerializer
from pydantic.fields import FieldInfo

from scythe.errors import StoreWriteError
from scythe.registry import Experiment
from scythe.run.frames import RESERVED_FRAMES as RESERVED_FRAMES  # re-exported (compat reads it here)
from scythe.run.frames import frame_name, prefixed, user_index
from scythe.run.layout import RunRef
from scythe.run.manifest import Manifest
from scythe.run.timings import worker_id
from scythe.specs import ExperimentInputSpec, ExperimentOutputSpec, json_as_is_type
from scythe.store import Store

_PRIMITIVE = (int, float, str, bool, type(None))


@dataclass
class SpecJob:
    """One spec of a batch: its position in the batch, its stored row and its index columns."""

    position: int
    row: dict[str, Any]
    index: dict[str, Any]


@dataclass
class SpecOutcome:
    """What one spec produced (or how it failed); crosses the process boundary by pickle."""

    position: int
    scalars: dict[str, Any] | None = None
    file_refs: dict[str, Any] | None = None
    frames: dict[str, tuple[pa.Table, list[str]]] = field(default_factory=dict)
    error: dict[str, Any] | None = None
    refused: StoreWriteError | None = None  # the store refused a write: the batch's failure, not the spec's
    seconds: float = 0.0  # the spec's own time in its process, every attempt included
    started: float | None = None  # epoch seconds: its first attempt's start, its last one's end
    finished: float | None = None
    attempts: int = 0
    worker: str | None = None  # `<hostname>:<pid>` of the process that ran it (`timings.worker_id`)


class Timeout(TimeoutError):
    """A spec ran past its experiment's timeout (recorded as `Timeout` in errors.pq)."""


class _Deterministic(Exception):
    """Wraps a failure that another attempt would only repeat."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class _Failure(Exception):
    def __init__(self, exc: BaseException, attempts: int) -> None:
        self.exc = exc
        self.attempts = attempts


def run_spec(
    experiment: Experiment[Any, Any],
    manifest: Manifest,
    job: SpecJob,
    workflow_run_id: str | None,
    store: Store,
    run: RunRef,
    on_attempt: Callable[[], None] = lambda: None,
) -> SpecOutcome:
    """`job`'s spec run to an outcome; never raises for the spec's sake. Stamped with its wall
    clock start and end, attempts and process, for final/timings.pq."""
    started = time.time()
    outcome = _outcome(experiment, manifest, job, workflow_run_id, store, run, on_attempt)
    outcome.started, outcome.finished, outcome.worker = started, time.time(), worker_id()
    if outcome.error is not None:
        outcome.attempts = int(outcome.error.get("attempts", 1))
    return outcome


def _outcome(
    experiment: Experiment[Any, Any],
    manifest: Manifest,
    job: SpecJob,
    workflow_run_id: str | None,
    store: Store,
    run: RunRef,
    on_attempt: Callable[[], None],
) -> SpecOutcome:
    position, row, index = job.position, job.row, job.index

    def finish(output: ExperimentOutputSpec) -> SpecOutcome:
        # Runs while the scratch dir still exists: returned files are uploaded from it.
        frames = {
            frame_name(name): (prefixed(frame, index), [*index, *user_index(frame)])
            for name, frame in output.dataframes.items()
        }
        refs = _upload_outputs(output, int(index["sort_index"]), store, run)
        scalars = {**index, **_scalars(output)}
        return SpecOutcome(position, scalars, {**index, **refs} if refs else None, frames)

    try:
        spec = experiment.input_spec.model_validate({**row, "workflow_run_id": workflow_run_id})
        return _attempts(experiment, spec, manifest, finish, on_attempt)
    except _Failure as failure:
        if isinstance(failure.exc, StoreWriteError):  # a full or read-only store fails the run
            return SpecOutcome(position, refused=failure.exc)
        return SpecOutcome(position, error={**index, **error_columns(failure.exc, failure.attempts)})
    except BaseException as exc:  # SystemExit and KeyboardInterrupt raised by a spec fail it alone
        return SpecOutcome(position, error={**index, **error_columns(exc, 1)})


def _attempts(
    experiment: Experiment[Any, Any],
    spec: ExperimentInputSpec,
    manifest: Manifest,
    finish: Callable[[ExperimentOutputSpec], SpecOutcome],
    on_attempt: Callable[[], None],
) -> SpecOutcome:
    attempts = manifest.retries + 1
    for attempt in range(1, attempts + 1):
        on_attempt()  # the watching process times each attempt from here
        try:
            with _scratch(experiment.takes_tempdir) as tmp, _deadline(manifest.timeout):
                output = _call(experiment, spec, tmp)
                try:
                    done = finish(output)
                    done.attempts = attempt
                    return done
                except _Expired:
                    raise
                except Exception as exc:
                    raise _Deterministic(exc) from exc
        except _Deterministic as wrapped:
            raise _Failure(wrapped.exc, attempt) from wrapped.exc
        except Exception as exc:
            if attempt == attempts:
                raise _Failure(exc, attempt) from exc
    raise AssertionError("unreachable")


def _call(
    experiment: Experiment[Any, Any], spec: ExperimentInputSpec, tmp: Path | None
) -> ExperimentOutputSpec:
    """The user's function; what it returns is checked here, and that check is never retried."""
    try:
        output: object = experiment(spec, tmp) if tmp is not None else experiment(spec)
    except ValidationError as exc:
        if exc.title == experiment.output_spec.__name__:  # its own output failed to validate
            raise _Deterministic(exc) from exc
        raise
    if not isinstance(output, experiment.output_spec):
        raise _Deterministic(
            TypeError(
                f"{experiment.name} returned {type(output).__name__}, not {experiment.output_spec.__name__}"
            )
        )
    checked: ExperimentOutputSpec = output
    return checked


@contextmanager
def _scratch(wanted: bool) -> Iterator[Path | None]:
    """A fresh scratch dir, only for experiments that take one (mkdir + rmtree cost ~0.3 ms a spec)."""
    if not wanted:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="scythe-task-") as tmp:
        yield Path(tmp)


class _Expired(Exception):
    """Raised by SIGALRM inside a spec; turned into a `Timeout` that names the limit."""


def _expire(signum: int, frame: object) -> None:
    raise _Expired


_alarm = threading.local()  # .installed: this thread's batch set the SIGALRM handler


@contextmanager
def alarm_handler() -> Iterator[None]:
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
        raise Timeout(f"the spec ran longer than its timeout of {seconds:g} s") from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


#: How each kind of scalar output field is stored: one Arrow type per field, whatever the spec.
#: "int" int64, "float" and "number" (`int | float`) float64, "bool", "str" string; "json" (a union
#: of several scalar types, such as `float | str`) the value's JSON text in a string column
#: (`1.5` → "1.5", "auto" → '"auto"'; None stays null), lossless and the same in every shard;
#: "other" (dates, enums, lists, models, custom serializers …) its JSON-mode dump, as it is.
_KINDS: dict[object, str] = {int: "int", float: "float", bool: "bool", str: "str"}
_INT64 = (-(2**63), 2**63 - 1)


def _scalars(output: ExperimentOutputSpec) -> dict[str, Any]:
    """The output's scalar fields as one row of scalars.pq; a value Arrow cannot hold in its field's
    column fails this spec alone (a ValueError naming the field), never the batch or the gather."""
    kinds = _scalar_kinds(type(output))
    values = {name: getattr(output, name) for name in kinds}
    dumped = [n for n, v in values.items() if v is not None and _needs_dump(kinds[n], v)]
    as_json = output.model_dump(mode="json", include=set(dumped)) if dumped else {}
    return {
        name: None if value is None else _stored(name, kinds[name], as_json.get(name, value))
        for name, value in values.items()
    }


def _needs_dump(kind: str, value: object) -> bool:
    """True where the JSON-mode dump decides what is stored (a str subclass, an enum, …)."""
    if kind == "json":
        return True
    if kind == "other":
        return not isinstance(value, _PRIMITIVE)
    return type(value) not in _NATIVE[kind]


_NATIVE: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "float": (int, float),
    "number": (int, float),
    "bool": (bool,),
    "str": (str,),
}


def _stored(name: str, kind: str, value: Any) -> Any:
    """`value` (a JSON-mode dump where `_needs_dump`) as its field's column holds it."""
    if kind == "json":
        return json.dumps(value, ensure_ascii=False)
    if kind == "other":
        if isinstance(value, float | str | bool):
            return value
        if isinstance(value, int):
            return _int64(name, value)
        try:
            pa.array([value])
        except (pa.ArrowException, OverflowError, TypeError, ValueError) as exc:
            raise ValueError(
                f"output {name!r}: {value!r} cannot be stored in an Arrow column: {exc}"
            ) from None
        return value
    if isinstance(value, bool) != (kind == "bool"):
        raise ValueError(f"output {name!r}: {value!r} is not a {kind} value")
    if kind == "int" and isinstance(value, int):
        return _int64(name, value)
    if kind in ("float", "number") and isinstance(value, int | float):
        if isinstance(value, int) and float(value) != value:  # float64 would round it
            raise ValueError(f"output {name!r}: {value} does not fit a 64-bit float exactly")
        return float(value)
    if kind == "str" and isinstance(value, str):
        return value
    if kind == "bool":
        return value
    raise ValueError(f"output {name!r}: {value!r} is a {type(value).__name__}, not a {kind} value")


def _int64(name: str, value: int) -> int:
    if not _INT64[0] <= value <= _INT64[1]:
        raise ValueError(f"output {name!r}: {value} does not fit a 64-bit integer")
    return int(value)


def _has_serializer(metadata: typing.Iterable[object]) -> bool:
    return any(isinstance(m, PlainSerializer | WrapSerializer) for m in metadata)


def json_text_fields(cls: type[ExperimentOutputSpec]) -> list[str]:
    """The scalar outputs stored as their value's JSON text (see `_KINDS`): what reading an
    output back from scalars.pq decodes (scythe-engine's single-spec `ref.result()`)."""
    return [name for name, kind in _scalar_kinds(cls).items() if kind == "json"]


@functools.cache
def _scalar_kinds(cls: type[ExperimentOutputSpec]) -> dict[str, str]:
    """Each scalar field's kind (see `_KINDS`), from its annotation; the same for every spec."""
    return {name: _kind(cls.model_fields[name]) for name in cls.scalar_fields()}


def _kind(field: FieldInfo) -> str:
    plain = json_as_is_type(field)
    if plain is not None:
        return _KINDS[plain]
    if _has_serializer(field.metadata):
        return "other"
    members = _scalar_members(field.annotation)
    if members is None or not members:
        return "other"
    if members == {int, float}:
        return "number"
    return "json" if len(members) > 1 else _KINDS[members.pop()]


def _scalar_members(annotation: object) -> set[type] | None:
    """The scalar types (int, float, bool, str) a union of them (or of Literals) holds, None
    otherwise (None itself is left out: it is a null in any column)."""
    if annotation is type(None):
        return set()
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        inner, *metadata = typing.get_args(annotation)
        return None if _has_serializer(metadata) else _scalar_members(inner)
    if origin is typing.Literal:
        kinds = {type(a) for a in typing.get_args(annotation)}
        return kinds if kinds <= set(_KINDS) else None
    if origin in (typing.Union, types.UnionType):
        found: set[type] = set()
        for arg in typing.get_args(annotation):
            members = _scalar_members(arg)
            if members is None:
                return None
            found |= members
        return found
    return {typing.cast(type, annotation)} if annotation in _KINDS else None


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


def error_columns(exc: BaseException, attempts: int) -> dict[str, Any]:
    """errors.pq's columns for a failure (a BaseException such as SystemExit(2) by its repr)."""
    return {
        "error_type": type(exc).__name__,
        "message": str(exc) if isinstance(exc, Exception) else repr(exc),
        "traceback": "".join(traceback.format_exception(exc)),
        "attempts": attempts,
    }
