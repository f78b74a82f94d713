"""A design (DataFrame, rows, or a CSV/Parquet file) → validated input specs, or every problem.

Validation is all-or-nothing and reports every bad row at once: a researcher fixing a
10,000-row sweep should not discover its mistakes one rerun at a time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeAlias, cast

import pandas as pd
from pydantic import BaseModel, TypeAdapter, ValidationError

from scythe.errors import DesignError, ScytheError
from scythe.specs import ExperimentInputSpec, is_file_reference

DesignLike: TypeAlias = pd.DataFrame | Sequence[Mapping[str, Any] | BaseModel] | str | Path
MAX_LISTED = 200


def read_design(design: DesignLike) -> tuple[list[dict[str, Any]], Path]:
    """Rows as dicts (empty cells dropped so defaults apply) and the folder relative paths use."""
    if isinstance(design, str | Path):
        path = Path(design)
        if not path.is_file():
            raise ScytheError(f"design file not found: {path}")
        frame = _read_table(path)
        return _records(frame), path.parent.resolve()
    if isinstance(design, pd.DataFrame):
        return _records(design), Path.cwd()
    rows = [row.model_dump(exclude_unset=True) if isinstance(row, BaseModel) else dict(row) for row in design]
    return rows, Path.cwd()


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


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    if not isinstance(frame.index, pd.RangeIndex):
        frame = frame.reset_index(drop=all(n is None for n in frame.index.names))
    records = cast(list[dict[str, Any]], frame.to_dict("records"))
    nullable = [c for c in frame.columns if frame[c].isna().any()]
    if nullable:
        for record in records:
            for column in nullable:
                value = record[column]
                if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
                    del record[column]
    return records


def validate_design(
    spec: type[ExperimentInputSpec], rows: list[dict[str, Any]], base_dir: Path
) -> list[ExperimentInputSpec]:
    """Every row as a spec with `sort_index` = its position, or a DesignError listing each problem.

    Rows are numbered from 1 (the first data row after a CSV header).
    """
    if not rows:
        raise ScytheError("the design is empty: nothing to run")
    for position, row in enumerate(rows):
        row.pop("experiment_id", None)
        row.pop("root_workflow_run_id", None)
        row["sort_index"] = position
    try:
        specs = TypeAdapter(list[spec]).validate_python(rows)  # type: ignore[valid-type]
    except ValidationError as exc:
        raise DesignError(_problems(exc)) from None
    problems = _missing_files(spec, specs, base_dir)
    if problems:
        raise DesignError(problems)
    return list(specs)


def _problems(exc: ValidationError) -> list[str]:
    problems = []
    for error in exc.errors(include_url=False):
        row, *where = error["loc"]
        field = ".".join(str(p) for p in where) or "(row)"
        problems.append(f"row {int(row) + 1}, field {field!r}: {error['msg']}")
    return _capped(problems)


def _capped(problems: list[str]) -> list[str]:
    if len(problems) > MAX_LISTED:
        return [*problems[:MAX_LISTED], f"… and {len(problems) - MAX_LISTED} more"]
    return problems


def _missing_files(
    spec: type[ExperimentInputSpec], specs: Sequence[ExperimentInputSpec], base_dir: Path
) -> list[str]:
    """Make relative local file paths absolute (against the design's folder) and check they exist."""
    fields = [n for n, f in spec.model_fields.items() if is_file_reference(f)]
    problems = []
    checked: dict[Path, bool] = {}
    for s in specs:
        for name in fields:
            value = getattr(s, name)
            if not isinstance(value, Path):
                continue
            path = value if value.is_absolute() else (base_dir / value).resolve()
            if path not in checked:
                checked[path] = path.is_file()
            if not checked[path]:
                problems.append(f"row {s.sort_index + 1}, field {name!r}: file not found: {path}")
            object.__setattr__(s, name, path)
    return _capped(problems)
