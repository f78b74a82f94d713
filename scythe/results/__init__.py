"""Reading results back: which runs a store holds, their final tables, a local copy of them.

May import: `scythe.run` (layout, manifest), `scythe.store`, `scythe.settings`; pandas only
inside `load`, so listing runs stays fast.
"""

from scythe.results.catalog import RunInfo, runs
from scythe.results.export import download
from scythe.results.tables import load

__all__ = ["RunInfo", "download", "load", "runs"]
