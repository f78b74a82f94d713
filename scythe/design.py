"""A design (DataFrame, rows, or a CSV/Parquet file) → validated input specs, or every problem.

Validation is all-or-nothing and reports every bad row at once: a researcher fixing a
10,000-row sweep should not discover its mistakes one rerun at a time. Designs are read and
validated in chunks (`DesignSource.chunks`, `DesignValidator`) so that a 10^6-row design never
exists as 10^6 dicts and 10^6 models at once; row numbers in problems are still the design's own.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np
import pandas as pd
from pydantic import BaseModel, TypeAdapter, ValidationError

from scythe.errors import DesignError, ScytheError
from scythe.specs import ExperimentInputSpec, is_file_reference

DesignLike: TypeAlias = pd.DataFrame | Sequence[Mapping[str, Any] | BaseModel] | str | Path
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


def open_design(design: DesignLike) -> DesignSource:
    """The design, read (files) but not yet turned into rows: that happens chunk by chunk."""
    if isinstance(design, str | Path):
        path = Path(design)
        if not path.is_file():
            raise ScytheError(f"design file not found: {path}")
        return DesignSource(path.parent.resolve(), frame=_indexed(_read_table(path)))
    if isinstance(design, pd.DataFrame):
        return DesignSource(Path.cwd(), frame=_indexed(design))
    return DesignSource(Path.cwd(), rows=design if isinstance(design, list | tuple) else list(design))


def read_design(design: DesignLike) -> tuple[list[dict[str, Any]], Path]:
    """Rows as dicts (empty cells dropped so defaults apply) and the folder relative paths use."""
    source = open_design(design)
    rows = [row for _, chunk in source.chunks(max(1, len(source))) for row in chunk]
    return rows, source.base_dir


def _row_dict(row: Mapping[str, Any] | BaseModel) -> dict[str, Any]:
    return row.model_dump(exclude_unset=True) if isinstance(row, BaseModel) else dict(row)


def _read_table(path: Path) -> pd.DataFrame:
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            return pd.read_csv(path)
        if suffix in (".pq", ".parquet"):
            return pd.read_parquet(path)
    except Exception as exc:
        raise ScytheError(f"cannot read design {path}: {exc}") from exc
    raise ScytheError(f"design {path} must be .csv, .parquet or .pq")


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
        self._checked: dict[str, dict[Path, tuple[Path, bool]]] = {n: {} for n in self.file_fields}
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
                path, exists = known
                if not exists:
                    self._missing.add(f"row {s.sort_index + 1}, field {name!r}: file not found: {path}")
                if path is not value:
                    object.__setattr__(s, name, path)
        return self._missing.count == found

    def _resolve(self, value: Path) -> tuple[Path, bool]:
        path = value if value.is_absolute() else (self.base_dir / value).resolve()
        return path, path.is_file()


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
