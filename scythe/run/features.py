"""Computed features: values each spec derives from its fields (`computed_features`, scythe-engine's
name), stored in specs.pq beside the fields and carried by every final table as index levels.

They are computed here, at allocation, from each validated spec as its row of specs.pq and of its
batch input is staged, and never in a task:
- the run's index levels are then fixed before anything runs (the manifest records them), so
  every shard has one schema; and a name that clashes with an input or an output is refused
  before anything is written, even one that only an instance can tell (`dict[str, …]`);
- a value that does not fit its annotation, or Arrow, is a design problem listed with the
  design's others, as an input value is; so is a `computed_features` that raises;
- every row the task writes takes its index from the stored row: the features are then in
  scalars, file refs and frames, and in errors.pq for a spec the task never had as an object
  (a row its worker was lost on, recorded as `WorkerLost`); and the task pays nothing for them.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pyarrow as pa
from pydantic import TypeAdapter, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import PydanticSerializationError

from scythe.errors import ExperimentDefinitionError
from scythe.specs import ExperimentInputSpec, declared_features, json_as_is_type, refuse_field_feature

_ARROW: dict[type, pa.DataType] = {int: pa.int64(), float: pa.float64(), str: pa.string(), bool: pa.bool_()}


def defines_features(spec: type[ExperimentInputSpec]) -> bool:
    """True where the spec overrides `computed_features`: a design of other specs costs nothing."""
    base = inspect.getattr_static(ExperimentInputSpec, "computed_features")
    return inspect.getattr_static(spec, "computed_features", base) is not base


class _Feature:
    """How one feature's values are stored: validated against its annotation and dumped in JSON
    mode (as a field's value is), with the Arrow type the annotation fixes (None: inferred over
    the design, as an input field's)."""

    def __init__(self, annotation: Any) -> None:
        self.adapter: TypeAdapter[Any] | None = (
            None if annotation in (Any, object) else TypeAdapter(annotation)
        )
        self.kept = _kept_types(annotation)
        self.arrow = _ARROW.get(json_as_is_type(FieldInfo.from_annotation(annotation)) or object)

    def stored(self, value: object) -> object:
        if self.adapter is None or type(value) in self.kept:
            return value  # what validating and dumping would give, without a per-row call
        return self.adapter.dump_python(self.adapter.validate_python(value), mode="json")


def _kept_types(annotation: Any) -> frozenset[type]:
    """The value types pydantic keeps as they are for `annotation` (its smart mode takes an exact
    match first): int, float, str, bool or None, alone or in a union of them."""
    if annotation in (int, float, str, bool, type(None)):
        return frozenset({annotation})
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = [_kept_types(arg) for arg in typing.get_args(annotation)]
        return frozenset().union(*members) if all(members) else frozenset()
    return frozenset()


def _value_annotation(spec: type[ExperimentInputSpec]) -> Any:
    """`V` of a `computed_features` annotated `dict[str, V]` or `Mapping[str, V]`: how undeclared
    features are validated (scythe-engine's `ComputedFeatureValue`); Any otherwise."""
    prop = inspect.getattr_static(spec, "computed_features")
    getter = prop.fget if isinstance(prop, property) else None
    returned = typing.get_type_hints(getter).get("return") if getter is not None else None
    if typing.get_origin(returned) in (dict, Mapping) and len(typing.get_args(returned)) == 2:
        return typing.get_args(returned)[1]
    return Any


class FeatureColumns:
    """A design's computed features, chunk by chunk. `names` grows as rows name new features (in
    the order they first appear, declared ones first); a chunk without one holds nulls for it."""

    def __init__(self, spec: type[ExperimentInputSpec], outputs: Sequence[str]) -> None:
        self.spec = spec
        self.features = {name: _Feature(annotation) for name, annotation in declared_features(spec).items()}
        self.undeclared = _Feature(_value_annotation(spec))
        self.names = list(self.features)
        self.outputs = set(outputs)

    def chunk(
        self, specs: Sequence[ExperimentInputSpec], start: int, problem: Callable[[str], None]
    ) -> dict[str, tuple[list[Any], pa.DataType | None]]:
        """Each feature's stored values for these specs (design rows `start + 1` …), and its
        Arrow type; a value that does not validate is reported to `problem` and left null."""
        columns: dict[str, list[Any]] = {name: [None] * len(specs) for name in self.names}
        for position, spec in enumerate(specs):
            row = start + position + 1
            for name, value in self._computed(spec, row, problem).items():
                if name not in columns:
                    self._admit(name, row)
                    columns[name] = [None] * len(specs)
                try:
                    columns[name][position] = self.features.get(name, self.undeclared).stored(value)
                except ValidationError as exc:
                    problem(
                        f"row {row}, computed feature {name!r}: {exc.errors(include_url=False)[0]['msg']}"
                    )
                except PydanticSerializationError as exc:
                    problem(f"row {row}, computed feature {name!r}: {value!r} cannot be stored ({exc})")
        return {name: (values, self._arrow(name)) for name, values in columns.items()}

    def _computed(
        self, spec: ExperimentInputSpec, row: int, problem: Callable[[str], None]
    ) -> Mapping[Any, Any]:
        try:
            values = spec.computed_features
        except Exception as exc:  # the user's code: its failure is this row's problem
            problem(f"row {row}: computed_features raised {type(exc).__name__}: {exc}")
            return {}
        if not isinstance(values, Mapping):
            problem(
                f"row {row}: computed_features gave a {type(values).__name__}, not a dict of name → value"
            )
            return {}
        return values

    def _admit(self, name: object, row: int) -> None:
        """A name first given by design row `row`: refused, in one line, if it cannot be a level."""
        where = f" (design row {row})"
        if not isinstance(name, str):
            raise ExperimentDefinitionError(
                f"{self.spec.__name__}: computed feature names are strings; design row {row} gave {name!r}"
            )
        refuse_field_feature(self.spec, name, where)
        if name in self.outputs:
            raise ExperimentDefinitionError(
                f"{self.spec.__name__}: computed feature {name!r}{where} is also an output of the experiment "
                "(one column of scalars.pq cannot hold both): rename one"
            )
        self.names.append(name)

    def _arrow(self, name: str) -> pa.DataType | None:
        feature = self.features.get(name)
        return feature.arrow if feature is not None else self.undeclared.arrow
