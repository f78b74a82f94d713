"""The base classes every experiment's input and output specs subclass, and `FileReference`.

An input spec is one row of a design; Scythe adds the bookkeeping fields that place it in a run
(`experiment_id`, `sort_index`, `root_workflow_run_id`). An output spec is what the experiment
function returns: scalar fields become columns of `final/scalars.pq`, `FileReference` fields are
uploaded and listed in `final/result_file_refs.pq`, and `dataframes` go to `final/<name>.pq`.
An input spec's `computed_features` (scythe-engine's) add derived index levels after its fields.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, TypeAlias

from pydantic import (
    AnyUrl,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    ValidatorFunctionWrapHandler,
    WithJsonSchema,
    WrapSerializer,
    WrapValidator,
)
from pydantic.fields import FieldInfo
from pydantic.json_schema import SkipJsonSchema

from scythe import context
from scythe.errors import ExperimentDefinitionError

if TYPE_CHECKING:
    import pandas as pd


class _FileReferenceMarker:
    """Tags the `FileReference` alias so fields of that type can be found by inspection."""

    def __repr__(self) -> str:
        return "FileReference"


_MARKER = _FileReferenceMarker()


def _parse_reference(value: object, handler: ValidatorFunctionWrapHandler) -> object:
    """A string is parsed here (once per distinct string) and is then valid as it is; anything
    else goes through the `AnyUrl | Path` union. Skipping the union for strings matters: it tries
    `AnyUrl` first, and the failure it builds for every local path cost a quarter of validation."""
    if isinstance(value, str):
        return _reference_from_text(value)
    return handler(value)


@functools.lru_cache(maxsize=4096)
def _reference_from_text(text: str) -> AnyUrl | Path:
    """Parsed once per distinct string: a design of 10^6 rows names a handful of files, and building
    a `Path`/`AnyUrl` per row was most of its validation time. Both types are immutable, so rows
    may share one instance."""
    return AnyUrl(text) if "://" in text else Path(text)


FileReference = Annotated[
    AnyUrl | Path,
    WrapValidator(_parse_reference),
    WithJsonSchema({"type": "string", "format": "file-reference"}),
    _MARKER,
]
"""A local path (uploaded at allocation), an `s3://` URI, or an `http(s)://` / `file://` URL."""


def _has_marker(annotation: object) -> bool:
    if typing.get_origin(annotation) is Annotated and any(
        m is _MARKER for m in typing.get_args(annotation)[1:]
    ):
        return True
    return any(_has_marker(arg) for arg in typing.get_args(annotation))


def is_file_reference(field: FieldInfo) -> bool:
    """True for fields typed `FileReference` (optionally `| None`)."""
    return any(m is _MARKER for m in field.metadata) or _has_marker(field.annotation)


def holds_one_reference(field: FieldInfo) -> bool:
    """True for `FileReference` and `FileReference | None` fields without a serializer of their own:
    their JSON value is `str(value)` (or None), which allocation writes without calling pydantic's
    per-row union serializer (a Python function per row, a tenth of a 10^6-row allocation)."""
    if any(m is _MARKER for m in field.metadata):
        return not _has_serializer(field.metadata)
    annotation = field.annotation
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) not in (typing.Union, types.UnionType) or len(args) != 2:
        return False
    inner = args[1] if args[0] is type(None) else args[0]
    if type(None) not in args or typing.get_origin(inner) is not Annotated:
        return False
    metadata = typing.get_args(inner)[1:]
    return any(m is _MARKER for m in metadata) and not _has_serializer([*metadata, *field.metadata])


def json_as_is_type(field: FieldInfo) -> type | None:
    """`str`, `int`, `float` or `bool` for fields of that type, a `Literal` of it, or either `| None`
    (and no serializer of their own): their JSON-mode dump is the value itself, which allocation
    writes to Arrow without pydantic's per-row dump. None for every other field."""
    annotation, metadata = field.annotation, list(field.metadata)
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        if len(args) != 2 or type(None) not in args:
            return None
        annotation = args[1] if args[0] is type(None) else args[0]
    if typing.get_origin(annotation) is Annotated:
        annotation, *more = typing.get_args(annotation)
        metadata += more
    if _has_serializer(metadata):
        return None
    if annotation in (str, int, float, bool):
        return typing.cast(type, annotation)
    if typing.get_origin(annotation) is typing.Literal:
        kinds = {type(a) for a in typing.get_args(annotation)}
        if len(kinds) == 1 and kinds <= {str, int, bool}:
            return kinds.pop()
    return None


def _has_serializer(metadata: typing.Iterable[object]) -> bool:
    return any(isinstance(m, PlainSerializer | WrapSerializer) for m in metadata)


ComputedFeatureValue: TypeAlias = int | float | str
"""What a computed feature holds, under scythe-engine's name (`dict[str, ComputedFeatureValue]`)."""


class ExperimentInputSpec(BaseModel):
    """One row of a design. Subclass it (or let `scythe specs` generate the subclass)."""

    model_config = ConfigDict(extra="forbid", validate_default=True)

    experiment_id: str = Field(
        default="", description="The run this spec belongs to: experiment/version/run id."
    )
    sort_index: int = Field(default=0, ge=0, description="Position of this spec in the design.")
    workflow_run_id: str | None = Field(
        default=None, description="The task run that executed this spec (not part of the index)."
    )
    root_workflow_run_id: str = Field(
        default="", description="The root workflow run (Hatchet) or run id (embedded)."
    )

    bookkeeping_fields: ClassVar[tuple[str, ...]] = (
        "experiment_id",
        "sort_index",
        "workflow_run_id",
        "root_workflow_run_id",
    )
    index_bookkeeping: ClassVar[tuple[str, ...]] = ("experiment_id", "sort_index", "root_workflow_run_id")

    def log(self, message: str) -> None:
        """Write to the task's log (the Hatchet run log, or the embedded run's log file)."""
        context.task_logger().info("[spec %d] %s", self.sort_index, message)

    def fetch(self, reference: AnyUrl | Path) -> Path:
        """A local path for an input file, downloaded once and cached on this machine."""
        from scythe.run.artifacts import fetch

        return fetch(reference)

    def fetch_uri(self, uri: AnyUrl | Path, use_cache: bool = True) -> Path:
        """Alias of `fetch`, under the name scythe-engine users know."""
        return self.fetch(uri)

    @property
    def computed_features(self) -> Mapping[str, object]:
        """Values derived from this spec, added after its fields as index levels of every final
        table, so results group by labels the design does not hold. Override it: scythe-engine's
        `dict[str, ComputedFeatureValue]` works as it is. Return a TypedDict to declare the names
        and types: a name clashing with a field is then refused where the class is defined (with an
        output, at `Register()`), and each type fixes its column, as an output field's does.
        Allocation computes it once per validated spec and stores it in specs.pq beside the fields
        (`scythe.run.features` says why there)."""
        return {}

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        """A declared feature named like a field is refused at the class statement, where it is
        written; an annotation naming a class not defined yet is checked again at `Register()`."""
        super().__pydantic_init_subclass__(**kwargs)
        with contextlib.suppress(_Unresolved):
            declared_features(cls)

    @classmethod
    def computed_feature_names(cls) -> list[str]:
        """The computed features the class declares (a TypedDict), in order; [] for undeclared
        ones (`dict[str, …]`), whose names allocation learns from the design."""
        return list(declared_features(cls))

    @classmethod
    def index_fields(cls, computed: Sequence[str] = ()) -> list[str]:
        """The index levels of every final table: bookkeeping, the design's fields, then the
        computed features (declared ones, then `computed`: those a run's manifest records)."""
        declared = cls.computed_feature_names()
        return [
            *cls.index_bookkeeping,
            *cls.design_fields(),
            *declared,
            *(n for n in computed if n not in declared),
        ]

    @classmethod
    def design_fields(cls) -> list[str]:
        """The fields a design provides: every field but Scythe's bookkeeping."""
        return [n for n in cls.model_fields if n not in cls.bookkeeping_fields]


class _Unresolved(ExperimentDefinitionError):
    """The return annotation of `computed_features` cannot be resolved (yet)."""


@functools.cache
def declared_features(cls: type[ExperimentInputSpec]) -> dict[str, Any]:
    """Name → annotation of the computed features `cls` declares: its `computed_features` returns
    a TypedDict. {} when it returns anything else (scythe-engine's `dict[str, …]` names them only
    when computed). Cached once resolved; a declared name that is also a field is refused here."""
    prop = inspect.getattr_static(cls, "computed_features", None)
    if not isinstance(prop, property) or prop.fget is None:
        return {}
    try:
        returned = typing.get_type_hints(prop.fget, include_extras=True).get("return")
        features = typing.get_type_hints(returned, include_extras=True) if _is_typeddict(returned) else {}
    except Exception as exc:
        raise _Unresolved(
            f"{cls.__name__}.computed_features: cannot resolve its return annotation ({exc})"
        ) from None
    for name in features:
        refuse_field_feature(cls, name)
    return {name: _unqualified(annotation) for name, annotation in features.items()}


def _unqualified(annotation: Any) -> Any:
    """A TypedDict key's type without `Required`/`NotRequired` (a missing key is a null level)."""
    while typing.get_origin(annotation) in (typing.Required, typing.NotRequired):
        annotation = typing.get_args(annotation)[0]
    return annotation


def _is_typeddict(annotation: object) -> bool:
    """typing's and typing_extensions' TypedDicts alike (`typing.is_typeddict` knows only its own)."""
    return (
        isinstance(annotation, type)
        and issubclass(annotation, dict)
        and hasattr(annotation, "__required_keys__")
    )


def refuse_field_feature(cls: type[ExperimentInputSpec], name: str, where: str = "") -> None:
    """One index level per name: a computed feature named like a field would hide one of them."""
    if name in cls.model_fields:
        raise ExperimentDefinitionError(
            f"{cls.__name__}: computed feature {name!r}{where} is also one of its fields "
            "(one index level cannot hold both): rename one"
        )


def _a_frame(value: object) -> object:
    """A `dataframes` value. pandas is imported once a frame is given, not with this module: spec
    modules (and `scythe specs`, which reads this one) load without it."""
    import pandas as pd

    if not isinstance(value, pd.DataFrame):
        raise ValueError(f"Input should be a pandas DataFrame, not {type(value).__name__}")
    return value


if TYPE_CHECKING:
    Frame = pd.DataFrame
else:
    Frame = Annotated[object, PlainValidator(_a_frame)]


class ExperimentOutputSpec(BaseModel):
    """What an experiment returns. Scalars become columns; `dataframes` become files."""

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")

    dataframes: SkipJsonSchema[dict[str, Frame]] = Field(
        default_factory=dict,
        exclude=True,
        description="Non-scalar results (time series …), gathered into final/<name>.pq.",
    )

    @classmethod
    def scalar_fields(cls) -> list[str]:
        """Fields that become columns of `scalars.pq`, in declaration order."""
        return _output_fields(cls)[0]

    @classmethod
    def file_fields(cls) -> list[str]:
        """`FileReference` fields, uploaded when the task finishes."""
        return _output_fields(cls)[1]


@functools.cache
def _output_fields(cls: type[ExperimentOutputSpec]) -> tuple[list[str], list[str]]:
    """(scalar, file) field names; cached: tasks ask for every spec and the answer never changes."""
    files = [n for n, f in cls.model_fields.items() if is_file_reference(f)]
    scalars = [n for n in cls.model_fields if n != "dataframes" and n not in files]
    return scalars, files


def io_schema(input_spec: type[ExperimentInputSpec], output_spec: type[BaseModel]) -> dict[str, Any]:
    """Both schemas with docstrings and descriptions, as written to `experiment_io_spec.yml`."""
    return {
        "input_spec": input_spec.model_json_schema(),
        "output_spec": output_spec.model_json_schema(),
    }
