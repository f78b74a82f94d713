"""Errors a user can cause and fix.

The CLI prints a `ScytheError` as one line and exits non-zero; anything else is a bug in Scythe
and keeps its traceback.
"""

from __future__ import annotations


class ScytheError(Exception):
    """A user mistake or an environment problem, explained in words."""


class DesignError(ScytheError):
    """One or more rows of a design did not validate; every bad row is listed."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  {p}" for p in problems)
        n = len(problems)
        super().__init__(f"the design has {n} problem{'s' if n != 1 else ''}; nothing was written:\n{lines}")


class ExperimentDefinitionError(ScytheError, TypeError):
    """A registered function does not have the shape Scythe can run."""


class StoreError(ScytheError):
    """The store is unreachable, or a key is missing where a whole file was expected."""


class RunFailedError(ScytheError):
    """Some specs raised; their errors are in final/errors.pq and every other result was kept."""
