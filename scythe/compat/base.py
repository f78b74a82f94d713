"""scythe-engine's import path for the spec base classes (`from scythe.base import …`)."""

from scythe.specs import ComputedFeatureValue, ExperimentInputSpec, ExperimentOutputSpec, FileReference

__all__ = ["ComputedFeatureValue", "ExperimentInputSpec", "ExperimentOutputSpec", "FileReference"]
