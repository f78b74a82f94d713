"""Final tables shaped for analysis: enums as categoricals, file inputs' names, index as columns.

Parquet stores an enum field as plain text and a file input as the URI it was uploaded to, and
the gather's tables carry the design in a 7-level MultiIndex. What the run's own
`experiment_io_spec.yml` says about each field (its `enum` choices, `format: file-reference`) is
applied here, when a table is loaded, so the stored bytes stay upstream's and the frames a
researcher gets need no clean-up before `groupby` or a plot.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

import yaml

from scythe.errors import StoreError
from scythe.run.layout import IO_SPEC, RunRef
from scythe.store import Store

if TYPE_CHECKING:
    import pandas as pd

FILE_REFERENCE = "file-reference"
NAME_SUFFIX = "_name"  # `weather_file` → `weather_file_name`, a flat table's column after it


@dataclass
class FieldKinds:
    """Which fields of a run hold enums (with their choices, in declared order) and files."""

    input_enums: dict[str, list[Any]] = field(default_factory=dict)
    output_enums: dict[str, list[Any]] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)


def field_kinds(store: Store, run: RunRef) -> FieldKinds:
    """What the run's io spec says about its fields; nothing for a run without one."""
    try:
        io = yaml.safe_load(store.get_bytes(run.key(IO_SPEC)))
    except (StoreError, yaml.YAMLError):
        return FieldKinds()
    if not isinstance(io, dict):
        return FieldKinds()
    inputs, outputs = io.get("input_spec") or {}, io.get("output_spec") or {}
    kinds = FieldKinds(input_enums=_enums(inputs), output_enums=_enums(outputs))
    kinds.files = [name for name, prop in _properties(inputs).items() if _is_file(prop, inputs)]
    return kinds


def _properties(schema: dict[str, Any]) -> dict[str, Any]:
    props = schema.get("properties")
    return props if isinstance(props, dict) else {}


def _alternatives(prop: dict[str, Any], schema: dict[str, Any]) -> list[dict[str, Any]]:
    """`prop` itself and, for an optional field (`anyOf: [X, null]`), each of its members, with
    `$ref`s to the schema's `$defs` (an `Enum` class) resolved."""
    found = [prop, *[p for p in prop.get("anyOf", []) if isinstance(p, dict)]]
    defs = schema.get("$defs") or {}
    resolved = []
    for item in found:
        ref = item.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            item = defs.get(ref.removeprefix("#/$defs/"), {})
        resolved.append(item)
    return resolved


def _enums(schema: dict[str, Any]) -> dict[str, list[Any]]:
    """Fields whose values are one of a list of strings or integers (a `Literal` or an `Enum`)."""
    enums = {}
    for name, prop in _properties(schema).items():
        for item in _alternatives(prop, schema):
            choices = item.get("enum")
            if isinstance(choices, list) and choices and all(_categorical(c) for c in choices):
                enums[name] = choices
                break
    return enums


def _categorical(value: object) -> bool:
    return isinstance(value, str | int) and not isinstance(value, bool)


def _is_file(prop: dict[str, Any], schema: dict[str, Any]) -> bool:
    return any(item.get("format") == FILE_REFERENCE for item in _alternatives(prop, schema))


def file_name(value: object) -> str | None:
    """The file name a reference ends in: the original file's for an uploaded input (uploads keep
    it: `artifacts/<sha256>/<name>`), the URI's last segment otherwise."""
    if not isinstance(value, str) or not value:
        return None
    path = unquote(urlparse(value).path) if "://" in value else value
    return PurePosixPath(path).name or None


def tidy(frame: pd.DataFrame, kinds: FieldKinds, *, scalars: bool, flat: bool) -> pd.DataFrame:
    """`frame` with enum fields as categoricals (choices in the schema's order) and, if `flat`,
    its index levels as columns and each file input's name beside it (`<field>_name`).
    Output enums only live in scalars.pq; input enums are index levels of every table. Levels
    are typed in place (a level holds each distinct value once): 10^6 rows cost no index rebuild."""
    enums = {**kinds.input_enums, **(kinds.output_enums if scalars else {})}
    levels = [n for n in frame.index.names if n is not None]
    table = frame.copy(deep=False)
    table.index = _typed_index(frame.index, enums)
    for name in set(enums) & set(table.columns):
        table[name] = _as_category(table[name], enums[name])
    if not flat:
        return table
    table = table.reset_index() if levels else table.reset_index(drop=True)
    for name in kinds.files:
        if name in table.columns and name + NAME_SUFFIX not in table.columns:
            names = {v: file_name(v) for v in table[name].dropna().unique()}
            table.insert(list(table.columns).index(name) + 1, name + NAME_SUFFIX, table[name].map(names))
    return table


def _typed_index(index: pd.Index[Any], enums: dict[str, list[Any]]) -> pd.Index[Any]:
    """`index` with its enum levels as categoricals; the codes are kept, only the levels change."""
    import pandas as pd

    if isinstance(index, pd.MultiIndex):
        return _typed_levels(index, enums)
    if index.name in enums and set(index.dropna()) <= set(enums[index.name]):
        return pd.CategoricalIndex(index, categories=enums[index.name], name=index.name)
    return index


def _typed_levels(index: pd.MultiIndex, enums: dict[str, list[Any]]) -> pd.MultiIndex:
    import pandas as pd

    for position, name in enumerate(index.names):
        level = index.levels[position]
        if name in enums and set(level.dropna()) <= set(enums[name]):
            typed: Any = pd.CategoricalIndex(level, categories=enums[name], name=name)  # stubs want a list
            index = index.set_levels(typed, level=position, verify_integrity=False)
    return index


def _as_category(column: pd.Series[Any], choices: list[Any]) -> pd.Series[Any]:
    """The column as a categorical of `choices`; left as it is if it holds a value outside them
    (a run of an older schema), since a categorical would turn that value into NaN."""
    import pandas as pd

    if not set(column.dropna().unique()) <= set(choices):
        return column
    return column.astype(pd.CategoricalDtype(categories=choices))
