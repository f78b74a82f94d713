"""Reading an experiment project's pyproject.toml, with the one-line error users should see."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from scythe.errors import ScytheError


def read_pyproject(root: Path) -> dict[str, Any]:
    pyproject = root / "pyproject.toml"
    try:
        return tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ScytheError(f"cannot read {pyproject}: {exc}") from exc
