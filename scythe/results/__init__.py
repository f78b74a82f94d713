"""Reading results back: which runs a store holds, their final tables, a local copy of them.

`load` reads one run and `load_all` every gathered run of a version, typed by `tidy` (enums as
categoricals, index levels as columns on request).
`summary` is a run at a glance in the terminal, `report` the HTML page with plots.
May import: `scythe.run` (layout, manifest, versions), `scythe.store`, `scythe.settings`; pandas
only inside `load`, so listing runs stays fast; matplotlib only inside `report` (the report extra).
"""

from scythe.results.catalog import RunInfo, runs
from scythe.results.export import download
from scythe.results.tables import load, load_all

__all__ = ["RunInfo", "download", "load", "load_all", "runs"]
