"""Scythe: an experiment's schema and function in, tidy Parquet files out.

The public API, in the order data travels: specs → registry → allocate → results.
"""

from scythe import results
from scythe.allocate import RunResult, allocate, resume
from scythe.design import DesignLike
from scythe.errors import DesignError, ExperimentDefinitionError, ScytheError
from scythe.layout import RunRef
from scythe.registry import Experiment, ExperimentRegistry
from scythe.sampling import sample_design
from scythe.settings import ScytheSettings
from scythe.specs import ExperimentInputSpec, ExperimentOutputSpec, FileReference
from scythe.store import LocalStore, S3Store, open_store

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
