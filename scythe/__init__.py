"""Scythe: an experiment's schema and function in, tidy Parquet files out.

The public API, in the order data travels: specs → registry → allocate → results. Names are
imported on first use, so `scythe --help` and `scythe specs` do not pay for pandas and pyarrow.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scythe import results
    from scythe.design import DesignLike
    from scythe.errors import DesignError, ExperimentDefinitionError, ScytheError
    from scythe.registry import Experiment, ExperimentRegistry
    from scythe.run.allocation import RunResult, allocate, resume
    from scythe.run.layout import RunRef
    from scythe.sampling import sample_design
    from scythe.settings import ScytheSettings
    from scythe.specs import ExperimentInputSpec, ExperimentOutputSpec, FileReference
    from scythe.store import LocalStore, S3Store, open_store

_WHERE = {
    "results": "scythe.results",
    "RunResult": "scythe.run.allocation",
    "allocate": "scythe.run.allocation",
    "resume": "scythe.run.allocation",
    "DesignLike": "scythe.design",
    "DesignError": "scythe.errors",
    "ExperimentDefinitionError": "scythe.errors",
    "ScytheError": "scythe.errors",
    "RunRef": "scythe.run.layout",
    "Experiment": "scythe.registry",
    "ExperimentRegistry": "scythe.registry",
    "sample_design": "scythe.sampling",
    "ScytheSettings": "scythe.settings",
    "ExperimentInputSpec": "scythe.specs",
    "ExperimentOutputSpec": "scythe.specs",
    "FileReference": "scythe.specs",
    "LocalStore": "scythe.store",
    "S3Store": "scythe.store",
    "open_store": "scythe.store",
}

__all__ = [
    "DesignError",
    "DesignLike",
    "Experiment",
    "ExperimentDefinitionError",
    "ExperimentInputSpec",
    "ExperimentOutputSpec",
    "ExperimentRegistry",
    "FileReference",
    "LocalStore",
    "RunRef",
    "RunResult",
    "S3Store",
    "ScytheError",
    "ScytheSettings",
    "allocate",
    "open_store",
    "results",
    "resume",
    "sample_design",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'scythe' has no attribute {name!r}")
    module = importlib.import_module(_WHERE[name])
    value = module if name == "results" else getattr(module, name)
    globals()[name] = value
    return value
