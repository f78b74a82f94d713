"""The shape of Hatchet's fan-out tree, under the name scythe-engine users know.

`factor` children per node, at most `max_depth` levels of splitting below the root. The embedded
backend accepts and ignores it (it has no tree to shape).
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class RecursionSpec(BaseModel):
    factor: int = Field(ge=1)
    offset: int | None = Field(default=None, ge=0)


class RecursionMap(BaseModel):
    factor: int = Field(default=10, ge=1, description="Children per scatter node.")
    max_depth: int = Field(default=10, ge=0, le=10, description="Levels of splitting below the root.")
    path: list[RecursionSpec] | None = None


__all__ = ["RecursionMap", "RecursionSpec"]
