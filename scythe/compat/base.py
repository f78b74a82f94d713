"""scythe-engine's import path for the spec base classes (`from scythe.base import …`)."""

from scythe.specs import ExperimentInputSpec, ExperimentOutputSpec, FileReference

__all__ = ["ExperimentInputSpec", "ExperimentOutputSpec", "FileReference"]
