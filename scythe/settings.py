"""Settings read from `SCYTHE_*` environment variables (and `.env`), shared by CLI and Python API.

Read once where a command or an API call starts (`get_settings()`) and passed down from there:
runtime modules take a `ScytheSettings` argument instead of reading the environment themselves.

Credentials are never part of these settings: S3 keys come from the standard `AWS_*` variables
that boto3 reads itself, so they cannot leak into a manifest written from this model.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from scythe.store import LocalStore, S3Store

BackendName = Literal["embedded", "hatchet", "slurm"]


class ScytheSettings(BaseSettings):
    """Where runs are stored, which backend runs them, and how."""

    model_config = SettingsConfigDict(
        env_prefix="SCYTHE_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    store: str = Field(
        default="scythe-store",
        description="A directory or s3://bucket/prefix where runs are written.",
    )
    backend: BackendName = Field(default="embedded", description="Where tasks execute.")
    workers: int | None = Field(
        default=None, ge=1, description="Embedded backend processes (default: CPU count)."
    )
    cache_dir: Path = Field(
        default=Path.home() / ".cache" / "scythe" / "artifacts",
        description="Where workers cache fetched input files.",
    )
    storage_bucket: str | None = Field(
        default=None, description="scythe-engine compatibility: S3 bucket when SCYTHE_STORE is unset."
    )
    storage_bucket_prefix: str = Field(default="scythe", description="scythe-engine compatibility.")
    image: str | None = Field(
        default=None, description="The experiment image tag, recorded in each run's manifest."
    )
    s3_endpoint_url: str | None = Field(
        default=None,
        description="S3-compatible endpoint (else AWS_ENDPOINT_URL, else AWS).",
    )

    worker_slots: int | None = Field(
        default=None, ge=1, description="Hatchet worker: tasks at once (default: from the CPU count)."
    )
    worker_name: str | None = Field(default=None, description="Hatchet worker: its name.")
    worker_batch_attempts: int = Field(
        default=4,
        ge=1,
        description="Hatchet worker: attempts a batch gets before its specs are recorded as WorkerLost.",
    )

    # The Slurm backend's sbatch defaults (`--partition`, `--time`, … on `scythe run` override them).
    slurm_partition: str | None = Field(
        default=None, description="Slurm: partition (default: the cluster's)."
    )
    slurm_time: str | None = Field(
        default=None, description="Slurm: walltime of one array element (sbatch --time)."
    )
    slurm_mem: str | None = Field(
        default=None, description="Slurm: memory of one array element (sbatch --mem)."
    )
    slurm_cpus_per_task: int = Field(default=1, ge=1, description="Slurm: CPUs of one array element.")
    slurm_account: str | None = Field(default=None, description="Slurm: account charged (sbatch --account).")
    slurm_qos: str | None = Field(default=None, description="Slurm: quality of service (sbatch --qos).")
    slurm_array_limit: int | None = Field(
        default=None, ge=1, description="Slurm: array elements running at once (the array's %N)."
    )
    slurm_sbatch_flags: str = Field(default="", description="Slurm: extra sbatch flags, shell-quoted.")

    def open_store(self, uri: str | None = None) -> LocalStore | S3Store:
        """The store at `uri` (default: this environment's), reached through the configured endpoint."""
        from scythe.store import open_store

        return open_store(uri or self.store_uri(), self.s3_endpoint_url)

    def store_uri(self) -> str:
        """SCYTHE_STORE, else scythe-engine's SCYTHE_STORAGE_BUCKET(+_PREFIX), else the default."""
        if "store" not in self.model_fields_set and self.storage_bucket:
            return f"s3://{self.storage_bucket}/{self.storage_bucket_prefix}".rstrip("/")
        return self.store


def get_settings() -> ScytheSettings:
    """Settings for the current environment; re-read whenever a relevant variable changes."""
    relevant = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("SCYTHE_")))
    return _settings_for(relevant, os.getcwd())


@functools.lru_cache(maxsize=8)
def _settings_for(environment: tuple[tuple[str, str], ...], cwd: str) -> ScytheSettings:
    return ScytheSettings()
