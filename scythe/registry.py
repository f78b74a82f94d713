"""`ExperimentRegistry.Register()`: turns a typed function into a runnable experiment.

The function's shape is checked when it is decorated, so a mistake surfaces at import time with a
message that says what to change, not as a confusing failure on a worker an hour later.
"""

from __future__ import annotations

import importlib
import inspect
import re
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar, overload

from scythe.errors import ExperimentDefinitionError, ScytheError
from scythe.run.layout import store_name
from scythe.specs import ExperimentInputSpec, ExperimentOutputSpec

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

InT = TypeVar("InT", bound=ExperimentInputSpec)
OutT = TypeVar("OutT", bound=ExperimentOutputSpec)


@dataclass(frozen=True)
class ExperimentOptions:
    """How tasks of an experiment run; the same on the embedded and the Hatchet backends."""

    retries: int = 0
    timeout: float = 3600.0
    concurrency: int | None = None
    batch_size: int | None = None
    schedule_timeout: float = 24 * 3600.0
    #: what a worker must offer to run its batches (`scythe worker --label KEY=VALUE`), normalised
    #: by `worker_labels_of`; sorted pairs, so options stay hashable and compare equal
    worker_labels: tuple[tuple[str, str | int], ...] = ()

    def __post_init__(self) -> None:
        if self.retries < 0:
            raise ExperimentDefinitionError("retries must be >= 0")
        if self.timeout <= 0:
            raise ExperimentDefinitionError("timeout must be a positive number of seconds")
        if self.concurrency is not None and self.concurrency < 1:
            raise ExperimentDefinitionError("concurrency must be >= 1 (or None for no limit)")
        if self.batch_size is not None and self.batch_size < 1:
            raise ExperimentDefinitionError("batch_size must be >= 1 (or None for automatic)")


@dataclass(frozen=True)
class Experiment(Generic[InT, OutT]):
    """A registered experiment: still callable like the function it wraps."""

    fn: Callable[..., OutT]
    name: str
    input_spec: type[InT]
    output_spec: type[OutT]
    takes_tempdir: bool
    version: str | None = None
    options: ExperimentOptions = field(default_factory=ExperimentOptions)

    @property
    def ref(self) -> str:
        """`module:qualname`, how workers import this experiment."""
        return f"{self.fn.__module__}:{self.fn.__qualname__}"

    def __call__(self, spec: InT, tempdir: Path | None = None) -> OutT:
        if self.takes_tempdir:
            if tempdir is None:
                raise TypeError(f"{self.name} needs a tempdir argument")
            return self.fn(spec, tempdir)
        return self.fn(spec)


class _Decorator(Protocol):
    @overload
    def __call__(self, fn: Callable[[InT], OutT], /) -> Experiment[InT, OutT]: ...
    @overload
    def __call__(self, fn: Callable[[InT, Path], OutT], /) -> Experiment[InT, OutT]: ...


def _spec_types(
    fn: Callable[..., object],
) -> tuple[type[ExperimentInputSpec], type[ExperimentOutputSpec], bool]:
    where = f"{fn.__module__}.{fn.__qualname__}"
    try:
        hints = typing.get_type_hints(fn)
    except Exception as exc:
        raise ExperimentDefinitionError(f"{where}: cannot resolve its annotations ({exc})") from exc
    params = list(inspect.signature(fn).parameters.values())
    if len(params) not in (1, 2):
        raise ExperimentDefinitionError(
            f"{where} must take (input_spec) or (input_spec, tempdir: Path); it takes {len(params)}"
        )
    in_type = hints.get(params[0].name)
    if not (isinstance(in_type, type) and issubclass(in_type, ExperimentInputSpec)):
        raise ExperimentDefinitionError(
            f"{where}: annotate its first parameter with a subclass of ExperimentInputSpec (got {in_type!r})"
        )
    if len(params) == 2 and hints.get(params[1].name) is not Path:
        raise ExperimentDefinitionError(
            f"{where}: its second parameter receives a scratch directory and must be annotated `Path`"
        )
    out_type = hints.get("return")
    if not (isinstance(out_type, type) and issubclass(out_type, ExperimentOutputSpec)):
        raise ExperimentDefinitionError(
            f"{where}: annotate its return type with a subclass of ExperimentOutputSpec (got {out_type!r})"
        )
    _refuse_shared_names(where, in_type, out_type)
    return in_type, out_type, len(params) == 2


def _refuse_shared_names(
    where: str, in_type: type[ExperimentInputSpec], out_type: type[ExperimentOutputSpec]
) -> None:
    """An output named like an input (or an index level) would share one column of scalars.pq
    with it, and the index level would hold the output's values: refuse it where it is made."""
    levels = set(in_type.index_fields()) | set(in_type.model_fields)
    shared = [name for name in [*out_type.scalar_fields(), *out_type.file_fields()] if name in levels]
    if shared:
        what = "a computed feature" if shared[0] in in_type.computed_feature_names() else "an input"
        raise ExperimentDefinitionError(
            f"{where}: {shared[0]!r} is both {what} (an index level of every final table) and an "
            f"output of {out_type.__name__}: rename one of them"
        )


class ExperimentRegistry:
    """Every experiment registered in this process, by name."""

    _experiments: typing.ClassVar[dict[str, Experiment[typing.Any, typing.Any]]] = {}

    @classmethod
    def Register(
        cls,
        name: str | None = None,
        *,
        version: str | None = None,
        retries: int = 0,
        timeout: float = 3600.0,
        concurrency: int | None = None,
        batch_size: int | None = None,
        schedule_timeout: float = 24 * 3600.0,
        worker_labels: Mapping[str, str | int | bool] | None = None,
    ) -> _Decorator:
        """Register `fn(input_spec[, tempdir]) -> OutputSpec` as an experiment.

        `timeout` and `schedule_timeout` are seconds; `retries` counts extra attempts;
        `concurrency` caps simultaneous tasks; `batch_size` specs share one task;
        `worker_labels` (e.g. `{"gpu": True}`) what a Hatchet worker must offer to run them
        (`scythe worker --label gpu=true`): every label, equal.
        """
        try:
            labels = worker_labels_of(worker_labels or {})
        except ScytheError as exc:
            raise ExperimentDefinitionError(f"worker_labels: {exc}") from None
        options = ExperimentOptions(retries, timeout, concurrency, batch_size, schedule_timeout, labels)

        def decorate(fn: Callable[..., typing.Any]) -> Experiment[typing.Any, typing.Any]:
            in_type, out_type, takes_tempdir = _spec_types(fn)
            experiment = Experiment(
                fn=fn,
                name=_check_name(name or fn.__name__),
                input_spec=in_type,
                output_spec=out_type,
                takes_tempdir=takes_tempdir,
                version=version,
                options=options,
            )
            cls._experiments[experiment.name] = experiment
            return experiment

        return typing.cast(_Decorator, decorate)

    @classmethod
    def get(cls, name: str) -> Experiment[typing.Any, typing.Any]:
        try:
            return cls._experiments[name]
        except KeyError:
            known = ", ".join(sorted(cls._experiments)) or "none"
            raise ScytheError(
                f"no experiment named {name!r} is registered (known: {known}); name it as "
                "module:function, or install a project that declares it under "
                '[project.entry-points."scythe.experiments"]'
            ) from None

    @classmethod
    def names(cls) -> list[str]:
        return sorted(cls._experiments)


def _check_name(name: str) -> str:
    """The name becomes the experiment's store folder: refused at import time, not at allocation."""
    try:
        return store_name(name, "an experiment")
    except ScytheError as exc:
        raise ExperimentDefinitionError(str(exc)) from None


_LABEL_KEY = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_LABEL_INT = re.compile(r"[-+]?[0-9]+")
_INT32 = (-(2**31), 2**31 - 1)  # the engine keeps int labels as int32


def worker_labels_of(labels: Mapping[str, object]) -> tuple[tuple[str, str | int], ...]:
    """Labels as Hatchet compares them, the same from `Register(worker_labels=…)` and from
    `scythe worker --label`: a bool or "true"/"false" (any case) is "true"/"false", an int or a
    string of digits an int, any other string itself. So `{"gpu": True}` matches `--label
    gpu=true` and `{"memory_gib": 64}` matches `--label memory_gib=64` (the engine tells an int
    label from a string one: unnormalised, `64` and `"64"` would never match)."""
    found: dict[str, str | int] = {}
    for key, value in labels.items():
        if not (isinstance(key, str) and _LABEL_KEY.fullmatch(key)):
            raise ScytheError(f"label {key!r}: use 1 to 64 ASCII letters, digits, '.', '-' or '_'")
        found[key] = _label_value(key, value)
    return tuple(sorted(found.items()))


def _label_value(key: str, value: object) -> str | int:
    if isinstance(value, str) and value.strip():
        text = value.strip()
        if text.lower() in ("true", "false"):
            return text.lower()
        if not _LABEL_INT.fullmatch(text):
            return text
        value = int(text)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if not _INT32[0] <= value <= _INT32[1]:
            raise ScytheError(f"label {key!r}: {value} does not fit the engine's 32-bit int labels")
        return value
    raise ScytheError(f"label {key!r}: {value!r} is not a bool, an int or a non-empty string")


_DOTTED = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")


def split_ref(ref: str) -> tuple[str, str]:
    """`module:function` as (module, qualname), or one line saying why `ref` is not one.

    Checked before anything is imported: `:` or `.mod:fn` would otherwise reach importlib and end
    in its traceback (an empty or relative module name), on `scythe run` and in a worker alike.
    """
    module_name, sep, qualname = ref.partition(":")
    if not (sep and _DOTTED.fullmatch(module_name) and _DOTTED.fullmatch(qualname)):
        raise ScytheError(
            f"experiment {ref!r} is not module:function (dotted Python names, e.g. "
            "mypkg.experiment:simulate) or a registered name"
        )
    return module_name, qualname


def load_experiment(ref: str) -> Experiment[typing.Any, typing.Any]:
    """Resolve `module:function` (imported from the working directory) or a registered name."""
    if ":" not in ref:
        load_entry_points()
        return ExperimentRegistry.get(ref)
    module_name, qualname = split_ref(ref)
    import sys

    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        obj: object = importlib.import_module(module_name)
    except ImportError as exc:
        raise ScytheError(f"cannot import {module_name!r} for experiment {ref!r}: {exc}") from exc
    for part in qualname.split("."):
        if not hasattr(obj, part):
            raise ScytheError(f"{module_name!r} has no {qualname!r} (from experiment {ref!r})")
        obj = getattr(obj, part)
    if not isinstance(obj, Experiment):
        raise ScytheError(f"{ref!r} is not decorated with @ExperimentRegistry.Register()")
    return obj


def load_entry_points() -> None:
    """Import experiments that installed projects declare under `scythe.experiments`."""
    from importlib.metadata import entry_points

    for ep in entry_points(group="scythe.experiments"):
        try:
            ep.load()
        except (ImportError, AttributeError) as exc:
            raise ScytheError(_broken_entry_point(ep, exc)) from exc


def _broken_entry_point(ep: EntryPoint, exc: ImportError | AttributeError) -> str:
    """Why an installed project's experiment cannot be loaded, naming the project to fix: a
    project uninstalled badly (or a deleted source tree under an editable install) leaves its
    entry point behind, and every `scythe run` would otherwise end in importlib's traceback."""
    dist = f"{ep.dist.name} {ep.dist.version}" if ep.dist is not None else "an installed project"
    where = f"entry point {ep.name!r} ({ep.value}, group scythe.experiments, from {dist})"
    module = ep.module
    missing = getattr(exc, "name", None) if isinstance(exc, ModuleNotFoundError) else None
    if missing is not None and (module == missing or module.startswith(f"{missing}.")):
        why = f"its module {missing!r} is not installed"
    elif isinstance(exc, AttributeError):
        why = f"{module!r} has no {ep.attr!r}"
    else:
        why = f"importing {module!r} failed: {exc}"
    return f"{where}: {why}; reinstall {dist}, or uninstall it"


def discover_default() -> Experiment[typing.Any, typing.Any]:
    """The only experiment installed projects declare, for `scythe run` without a name."""
    load_entry_points()
    names = ExperimentRegistry.names()
    if len(names) != 1:
        listed = ", ".join(names) or "none found"
        raise ScytheError(
            f"name the experiment to run (module:function or a registered name); registered: {listed}"
        )
    return ExperimentRegistry.get(names[0])


def declared_by(experiment: Experiment[typing.Any, typing.Any]) -> str:
    """Where an experiment came from, for `scythe run` to say which one it picked: the installed
    project whose `scythe.experiments` entry point declares it, else this process."""
    from importlib.metadata import entry_points

    for ep in entry_points(group="scythe.experiments"):
        names_a_module = ep.attr is None and ep.module == experiment.fn.__module__
        if names_a_module or ep.load() is experiment:
            dist = f"{ep.dist.name} {ep.dist.version}" if ep.dist is not None else "an installed project"
            return f"declared by {dist} (entry point {ep.name} = {ep.value})"
    return "registered in this process"
