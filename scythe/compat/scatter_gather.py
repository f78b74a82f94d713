"""The shape of Hatchet's fan-out tree, under the names scythe-engine users know.

`RecursionMap(factor, max_depth)` is Scythe's own (`scythe.backends.base.RecursionMap`): `factor`
children per node, at most `max_depth` levels of splitting below the root. Upstream's explicit
per-level `path` is accepted by the model but refused by `BaseExperiment.allocate` (Scythe's tree
is uniform), so it is never silently ignored.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from scythe.backends.base import RecursionMap as _RecursionMap


class RecursionSpec(BaseModel):
    factor: int = Field(ge=1)
    offset: int | None = Field(default=None, ge=0)


class RecursionMap(_RecursionMap):
    path: list[RecursionSpec] | None = None


__all__ = ["RecursionMap", "RecursionSpec"]
