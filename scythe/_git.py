"""Asking git about a folder: the one way Scythe runs git (manifests, image tags, scaffolding)."""

from __future__ import annotations

import subprocess
from pathlib import Path


def git(where: Path, *args: str, timeout: float | None = None) -> str | None:
    """git's stripped stdout for `args` run in `where`; None when git is missing, fails or hangs."""
    try:
        done = subprocess.run(
            ["git", *args], cwd=where, capture_output=True, text=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None
