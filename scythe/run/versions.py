"""Which version a run is stored under, and which Scythe wrote it.

Versions are `vMAJOR.MINOR.PATCH` folders in the store (upstream scythe-engine's scheme): an
explicit version, or a strategy (`bumpmajor|bumpminor|bumppatch|keep`) applied to the newest one
already stored. An experiment defaults to its own project's version, read from entry points, the
source tree's pyproject.toml, or the installed distribution — cheapest first.
"""

from __future__ import annotations

import functools
import inspect
import re
import tomllib
from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, entry_points, packages_distributions
from importlib.metadata import version as dist_version
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from scythe.errors import ScytheError

if TYPE_CHECKING:
    from scythe.registry import Experiment

VersionStrategy = Literal["bumpmajor", "bumpminor", "bumppatch", "keep"]
STRATEGIES: tuple[str, ...] = ("bumpmajor", "bumpminor", "bumppatch", "keep")
_VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)$")
DISTRIBUTION = "scythe-sweep"  # the name on the package index (scythe/extras.py says why)


def parse_version(text: str) -> tuple[int, int, int]:
    match = _VERSION.match(text.strip())
    if not match:
        raise ScytheError(
            f"{text!r} is not a version: use MAJOR.MINOR.PATCH or one of {', '.join(STRATEGIES)}"
        )
    major, minor, patch = (int(g) for g in match.groups())
    return major, minor, patch


def format_version(version: tuple[int, int, int]) -> str:
    return "v{}.{}.{}".format(*version)


def resolve_version(requested: str, existing: list[str]) -> str:
    """An explicit version, or a strategy applied to the newest version already in the store.

    With nothing stored yet every strategy gives v1.0.0, as upstream scythe-engine does.
    """
    if requested not in STRATEGIES:
        return format_version(parse_version(requested))
    versions = sorted(parse_version(v) for v in existing if _VERSION.match(v))
    if not versions:
        return "v1.0.0"
    major, minor, patch = versions[-1]
    if requested == "bumpmajor":
        return format_version((major + 1, 0, 0))
    if requested == "bumpminor":
        return format_version((major, minor + 1, 0))
    if requested == "bumppatch":
        return format_version((major, minor, patch + 1))
    return format_version((major, minor, patch))


def read_pyproject(root: Path) -> dict[str, Any]:
    """A project's pyproject.toml, or the one-line error users should see."""
    pyproject = root / "pyproject.toml"
    try:
        return tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ScytheError(f"cannot read {pyproject}: {exc}") from exc


def default_version(experiment: Experiment[Any, Any]) -> str:
    """The experiment's own version, else its project's (installed or not), else `keep`.

    Cheapest first: `packages_distributions()` reads every installed distribution's file list
    (0.2–0.6 s), so it is asked only when neither an entry point nor a source tree answers.
    """
    if experiment.version:
        return experiment.version
    top = experiment.fn.__module__.split(".")[0]
    for ep in entry_points(group="scythe.experiments"):  # editable installs map no modules
        if ep.value.split(":")[0].split(".")[0] == top and ep.dist is not None:
            return ep.dist.version
    found = _source_tree_version(experiment)
    if found:
        return found
    for dist in _packages_distributions().get(top, []):
        try:
            return dist_version(dist)
        except PackageNotFoundError:
            continue
    return "keep"


@functools.cache
def _packages_distributions() -> Mapping[str, list[str]]:
    """Cached: installed distributions do not change while a process allocates."""
    return packages_distributions()


def _source_tree_version(experiment: Experiment[Any, Any]) -> str | None:
    """The version in the pyproject.toml above the experiment's source, for uninstalled projects.

    Not for installed packages: one in a project's .venv would pick up that project's pyproject.
    """
    try:
        source = Path(inspect.getfile(experiment.fn)).resolve()
    except (TypeError, OSError):
        return None
    if {"site-packages", "dist-packages"} & set(source.parts):
        return None
    for folder in source.parents:
        if (folder / "pyproject.toml").is_file():
            version = read_pyproject(folder).get("project", {}).get("version")
            return version if isinstance(version, str) else None
    return None


def scythe_version() -> str:
    """The installed Scythe's version, recorded in every manifest."""
    try:
        return dist_version(DISTRIBUTION)
    except PackageNotFoundError:
        return "unknown"
