"""A design (DataFrame, rows, or a CSV/Parquet file) → validated input specs, or every problem.

Validation is all-or-nothing and reports every bad row at once: a researcher fixing a
10,000-row sweep should not discover its mistakes one rerun at a time. Designs are read and
validated in chunks (`DesignSource.chunks`, `DesignValidator`) so that a 10^6-row design never
exists as 10^6 dicts and 10^6 models at once; row numbers in problems are still the design's own.
"""

from __future__ import annotations

import csv
import math
import types
import typing
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np
import pandas as pd
from pydantic import BaseModel, TypeAdapter, ValidationError

from scythe.errors import DesignError, ScytheError
from scythe.specs import ExperimentInputSpec, is_file_reference

DesignLike: TypeAlias = pd.DataFrame | Sequence[Mapping[str, Any] | BaseModel] | BaseModel | str | Path
MAX_LISTED = 200
_RUN_FIELDS = ("experiment_id", "root_workflow_run_id")


@dataclass(frozen=True)
class DesignSource:
    """A design's rows, handed out a chunk at a time, and the folder its relative paths use."""

    base_dir: Path
    frame: pd.DataFrame | None = None
    rows: Sequence[Mapping[str, Any] | BaseModel] = ()

    def __len__(self) -> int:
        return len(self.frame) if self.frame is not None else len(self.rows)

    def chunks(self, size: int) -> Iterator[tuple[int, list[dict[str, Any]]]]:
        """(position of the first row, rows as dicts): empty cells dropped so defaults apply."""
        for start in range(0, len(self), size):
            if self.frame is not None:
                yield start, _records(self.frame.iloc[start : start + size])
            else:
                yield start, [_row_dict(row) for row in self.rows[start : start + size]]


def open_design(design: DesignLike, spec: type[ExperimentInputSpec] | None = None) -> DesignSource:
    """The design, read (files) but not yet turned into rows: that happens chunk by chunk.

    `spec`, when given, narrows the semicolon hint to headers that split into its own fields.
    """
    if isinstance(design, str | Path):
        path = Path(design)
        if path.is_dir():
            raise ScytheError(f"design {path} is a directory, not a file: give a .csv, .parquet or .pq file")
        if not path.is_file():
            raise ScytheError(f"design file not found: {path}")
        return DesignSource(path.parent.resolve(), frame=_indexed(_read_table(path, spec)))
    if isinstance(design, pd.DataFrame):
        _refuse_duplicates(list(design.columns), "the design")
        return DesignSource(Path.cwd(), frame=_indexed(design))
    if isinstance(design, BaseModel):  # one spec (scythe-engine's `allocate(spec)`): a run of one
        return DesignSource(Path.cwd(), rows=[design])
    return DesignSource(Path.cwd(), rows=design if isinstance(design, list | tuple) else list(design))


def read_design(design: DesignLike) -> tuple[list[dict[str, Any]], Path]:
    """Rows as dicts (empty cells dropped so defaults apply) and the folder relative paths use."""
    source = open_design(design)
    rows = [row for _, chunk in source.chunks(max(1, len(source))) for row in chunk]
    return rows, source.base_dir


def _row_dict(row: Mapping[str, Any] | BaseModel) -> dict[str, Any]:
    return row.model_dump(exclude_unset=True) if isinstance(row, BaseModel) else dict(row)


def _read_table(path: Path, spec: type[ExperimentInputSpec] | None) -> pd.DataFrame:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _read_csv(path, spec)
    if suffix in (".pq", ".parquet"):
        import pyarrow.parquet as pq

        try:
            names = pq.read_schema(path).names
        except Exception as exc:
            raise _unreadable(path, exc) from exc
        _refuse_duplicates(names, f"design {path}")  # pyarrow would refuse them in a traceback's words
        try:
            return pd.read_parquet(path)
        except Exception as exc:
            raise _unreadable(path, exc) from exc
    raise ScytheError(f"design {path} must be .csv, .parquet or .pq")


def _read_csv(path: Path, spec: type[ExperimentInputSpec] | None) -> pd.DataFrame:
    """The CSV, checked against its raw header: pandas renames a repeated column `x` to `x.1`
    (then reported as an unknown field) and reads a semicolon-delimited file as one column
    named `x;n;mode` (then "Field required" for every field), neither of which says what is wrong."""
    header = _csv_header(path)
    try:
        frame: pd.DataFrame = pd.read_csv(path, **_csv_options(header, spec))
    except Exception as exc:
        if any(";" in name for name in header):  # `1,5;2` rows: decimal commas split them apart
            raise _semicolons(path, header) from exc
        raise _unreadable(path, exc) from exc
    _refuse_duplicates(header, f"design {path}")
    if len(header) == 1 and ";" in header[0]:
        parts = {part.strip() for part in header[0].split(";")}
        if spec is None or parts & set(spec.model_fields):
            raise _semicolons(path, header)
    return frame


def _unreadable(path: Path, exc: Exception) -> ScytheError:
    """The reader's own reason, on one line (pyarrow's run over several)."""
    reason = next(iter(str(exc).strip().splitlines()), type(exc).__name__)
    return ScytheError(f"cannot read design {path}: {reason}")


def _semicolons(path: Path, header: list[str]) -> ScytheError:
    return ScytheError(
        f"design {path} has the header {','.join(header)!r}: this looks semicolon-delimited; "
        "Scythe reads comma-separated CSV, so save it with commas"
    )


#: What pandas reads as missing by default (its read_csv documentation lists them).
_PANDAS_NA = ["", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN"]
_PANDAS_NA += ["<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"]


def _csv_options(header: list[str], spec: type[ExperimentInputSpec] | None) -> dict[str, Any]:
    """Text fields' cells read as written, only an empty one missing: left to itself, pandas reads
    `007` as the number 7 (then refused for a `str` field) and `NA`, `null` or `None` as missing
    (then silently the field's default). Other columns keep pandas' own reading."""
    text = [name for name in header if name in _text_fields(spec)] if spec is not None else []
    if not text:
        return {}
    na = {name: [""] if name in text else _PANDAS_NA for name in header}
    return {"dtype": dict.fromkeys(text, str), "na_values": na, "keep_default_na": False}


def _text_fields(spec: type[ExperimentInputSpec]) -> set[str]:
    """Fields whose every value is a string: `str`, a `Literal` of strings, a file reference
    (each optionally `| None`)."""
    return {
        name
        for name, field in spec.model_fields.items()
        if is_file_reference(field) or _is_text(field.annotation)
    }


def _is_text(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _is_text(typing.get_args(annotation)[0])
    if origin is typing.Literal:
        return all(isinstance(value, str) for value in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        kept = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        return all(_is_text(arg) for arg in kept)
    return annotation is str


def _csv_header(path: Path) -> list[str]:
    """The first row of the file as written (pandas' own reading has already renamed repeats)."""
    with path.open(newline="", encoding="utf-8-sig", errors="replace") as fh:
        return next(csv.reader(fh), [])


def _refuse_duplicates(names: list[Any], where: str) -> None:
    """Two columns of one name would be one field: which value wins would be an accident."""
    positions: dict[Any, list[int]] = {}
    for i, name in enumerate(names, start=1):
        positions.setdefault(name, []).append(i)
    for name, found in positions.items():
        if len(found) > 1:
            listed = ", ".join(map(str, found[:-1])) + f" and {found[-1]}"
            raise ScytheError(f"{where} has {len(found)} columns named {name!r} (columns {listed}): keep one")


def _indexed(frame: pd.DataFrame) -> pd.DataFrame:
    """A named or non-default index is part of the design: it becomes columns."""
    if not isinstance(frame.index, pd.RangeIndex):
        return frame.reset_index(drop=all(n is None for n in frame.index.names))
    return frame


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """`frame.to_dict("records")`, built column by column: the same Python values, several times
    faster for numeric and string columns (pandas boxes every cell one call at a time)."""
    names = list(frame.columns)
    if not names:
        return [{} for _ in range(len(frame))]
    columns = [_column_values(frame.iloc[:, i]) for i in range(len(names))]
    records = [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]
    for i, name in enumerate(names):
        for row in np.flatnonzero(frame.iloc[:, i].isna().to_numpy()):
            value = records[row][name]
            if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
                del records[row][name]
    return records


def _column_values(column: pd.Series[Any]) -> list[Any]:
    """One column's cells as `to_dict("records")` would give them."""
    dtype = column.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "biufc":
        return column.to_numpy().tolist()
    if isinstance(dtype, pd.StringDtype):
        return column.to_numpy(dtype=object).tolist()
    return [row[0] for row in column.to_frame(name=0).to_dict("records")]


class _Problems:
    """Problems as they are found: the first MAX_LISTED kept, the rest only counted."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.count = 0

    def add(self, line: str) -> None:
        self.count += 1
        if len(self.lines) < MAX_LISTED:
            self.lines.append(line)

    def listed(self) -> list[str]:
        if self.count > MAX_LISTED:
            return [*self.lines, f"… and {self.count - MAX_LISTED} more"]
        return list(self.lines)


class DesignValidator:
    """Validates a design chunk by chunk and remembers every problem, numbered by design row.

    Field errors win: as when the whole design is validated at once, missing input files are
    reported only for a design whose every row validated.
    """

    def __init__(self, spec: type[ExperimentInputSpec], base_dir: Path) -> None:
        self.spec = spec
        self.adapter: TypeAdapter[list[ExperimentInputSpec]] = TypeAdapter(list[spec])  # type: ignore[valid-type]
        self.base_dir = base_dir
        self.file_fields = [n for n, f in spec.model_fields.items() if is_file_reference(f)]
        self._checked: dict[str, dict[Path, tuple[Path, str | None]]] = {n: {} for n in self.file_fields}
        self._local: dict[str, set[Path]] = {name: set() for name in self.file_fields}
        self._invalid = _Problems()
        self._missing = _Problems()

    @property
    def ok(self) -> bool:
        return not (self._invalid.count or self._missing.count)

    def problems(self) -> list[str]:
        return (self._invalid if self._invalid.count else self._missing).listed()

    def add_problem(self, line: str) -> None:
        """A problem found outside pydantic's validation (a value Arrow cannot store, …)."""
        self._invalid.add(line)

    def local_files(self) -> dict[str, set[Path]]:
        """Each file field's local input files (absolute paths), over every chunk validated so far."""
        return self._local

    def validate(self, rows: list[dict[str, Any]], start: int) -> list[ExperimentInputSpec] | None:
        """The rows (design rows `start`, `start + 1`, … 0-based) as specs, or None if any failed."""
        for position, row in enumerate(rows, start=start):
            for name in _RUN_FIELDS:
                row.pop(name, None)
            row["sort_index"] = position
        try:
            specs = self.adapter.validate_python(rows)
        except ValidationError as exc:
            self._add_invalid(exc, start)
            return None
        if self._invalid.count:
            return None  # the design is rejected already; its file problems would not be listed
        return specs if self._check_files(specs) else None

    def _add_invalid(self, exc: ValidationError, start: int) -> None:
        for error in exc.errors(include_url=False):
            row, *where = error["loc"]
            field = ".".join(str(p) for p in where) or "(row)"
            self._invalid.add(f"row {start + int(row) + 1}, field {field!r}: {error['msg']}")

    def _check_files(self, specs: Sequence[ExperimentInputSpec]) -> bool:
        """Make relative local paths absolute (against the design's folder); False if one is missing.

        Each distinct path is resolved and looked up once: designs name a handful of files.
        """
        found = self._missing.count
        for s in specs:
            for name in self.file_fields:
                value = getattr(s, name)
                if not isinstance(value, Path):
                    continue
                known = self._checked[name].get(value)
                if known is None:
                    known = self._checked[name][value] = self._resolve(value)
                    self._local[name].add(known[0])
                path, problem = known
                if problem is not None:
                    self._missing.add(f"row {s.sort_index + 1}, field {name!r}: {problem}")
                if path is not value:
                    object.__setattr__(s, name, path)
        return self._missing.count == found

    def _resolve(self, value: Path) -> tuple[Path, str | None]:
        """The absolute path and why it is no input file (None if it is one)."""
        path = value if value.is_absolute() else (self.base_dir / value).resolve()
        if path.is_file():
            return path, None
        return path, f"{path} is a directory, not a file" if path.is_dir() else f"file not found: {path}"


def validate_design(
    spec: type[ExperimentInputSpec], rows: list[dict[str, Any]], base_dir: Path
) -> list[ExperimentInputSpec]:
    """Every row as a spec with `sort_index` = its position, or a DesignError listing each problem.

    Rows are numbered from 1 (the first data row after a CSV header).
    """
    if not rows:
        raise ScytheError("the design is empty: nothing to run")
    validator = DesignValidator(spec, base_dir)
    specs = validator.validate(rows, 0)
    if specs is None:
        raise DesignError(validator.problems())
    return list(specs)
