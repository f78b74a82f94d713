"""Designs drawn inside the input schema's bounds: Latin hypercube or Sobol.

A numeric field needs both bounds (ge/gt and le/lt); a `Literal` field samples its choices; a
field with a default and no bounds keeps its default. Anything else must be fixed by the caller.
"""

from __future__ import annotations

import math
import typing
import warnings
from typing import Any, Literal

import annotated_types as at
import numpy as np
import pandas as pd
from pydantic.fields import FieldInfo

from scythe.errors import ScytheError
from scythe.specs import ExperimentInputSpec

Method = Literal["lhs", "sobol"]


def _bounds(field: FieldInfo) -> tuple[float | None, float | None]:
    low = high = None
    for m in field.metadata:
        if isinstance(m, at.Ge | at.Gt):
            low = float(m.ge if isinstance(m, at.Ge) else m.gt)  # type: ignore[arg-type]
        if isinstance(m, at.Le | at.Lt):
            high = float(m.le if isinstance(m, at.Le) else m.lt)  # type: ignore[arg-type]
        if isinstance(m, at.Interval):
            low = float(m.ge if m.ge is not None else m.gt)  # type: ignore[arg-type]
            high = float(m.le if m.le is not None else m.lt)  # type: ignore[arg-type]
    return low, high


def _unit_sample(method: Method, dims: int, n: int, seed: int | None) -> Any:
    if dims == 0:
        return [[] for _ in range(n)]
    if method == "lhs":
        # One point per stratum in every dimension, strata shuffled independently.
        rng = np.random.default_rng(seed)
        strata = np.stack([rng.permutation(n) for _ in range(dims)], axis=1)
        return (strata + rng.random((n, dims))) / n
    from scythe import extras

    extras.require("project", "a Sobol design")
    from scipy.stats import qmc  # scipy.stats costs seconds to import: only for Sobol

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Sobol prefers powers of two; any n is still valid
        return qmc.Sobol(d=dims, scramble=True, seed=seed).random(n)


def sample_design(
    spec: type[ExperimentInputSpec],
    n: int,
    method: Method = "lhs",
    seed: int | None = 0,
    fixed: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """`n` rows: sampled fields in their bounds, the rest fixed or defaulted."""
    if n < 1:
        raise ScytheError("--n must be at least 1")
    fixed = dict(fixed or {})
    unknown = set(fixed) - set(spec.design_fields())
    if unknown:
        raise ScytheError(f"unknown field(s) to fix: {', '.join(sorted(unknown))}")
    sampled: list[tuple[str, FieldInfo]] = []
    columns: dict[str, Any] = {}
    for name in spec.design_fields():
        field = spec.model_fields[name]
        if name in fixed:
            columns[name] = [fixed[name]] * n
        elif _samplable(field):
            sampled.append((name, field))
        elif not field.is_required():
            continue
        else:
            raise ScytheError(
                f"field {name!r} has no bounds or choices to sample: fix it with --set {name}=VALUE"
            )
    unit = _unit_sample(method, len(sampled), n, seed)
    for d, (name, field) in enumerate(sampled):
        columns[name] = [_scale(field, float(row[d])) for row in unit]
    return pd.DataFrame({name: columns[name] for name in spec.design_fields() if name in columns})


def _samplable(field: FieldInfo) -> bool:
    if typing.get_origin(field.annotation) is Literal:
        return True
    low, high = _bounds(field)
    return field.annotation in (int, float) and low is not None and high is not None


def _scale(field: FieldInfo, u: float) -> Any:
    if typing.get_origin(field.annotation) is Literal:
        choices = typing.get_args(field.annotation)
        return choices[min(int(u * len(choices)), len(choices) - 1)]
    low, high = _bounds(field)
    assert low is not None
    assert high is not None
    if field.annotation is int:
        return min(int(math.ceil(low) + math.floor(u * (math.floor(high) - math.ceil(low) + 1))), int(high))
    return low + u * (high - low)
