"""Errors a user can cause and fix: every one of them is a `ScytheError`.

The CLI prints a `ScytheError` as one line and exits non-zero; anything else is a bug in Scythe
and keeps its traceback. Library failures a user can cause (an unreachable S3 endpoint, a Hatchet
engine that refuses the token) are translated into these where they happen, one line each.
May import: nothing from scythe (everything imports it).
"""

from __future__ import annotations

from pathlib import Path


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


class BackendError(ScytheError):
    """A backend (the Hatchet engine, a process pool) is unreachable, misconfigured or gave up."""


class SchemaError(ScytheError):
    """A schema file that cannot be read or turned into a spec class; names the file and the place."""

    def __init__(self, path: Path, message: str, pointer: str | None = None) -> None:
        # The pointer in URI-fragment form: `file#/properties/x/minimum`, `file#` for the root.
        where = path.as_posix() if pointer is None else f"{path.as_posix()}#{pointer}"
        super().__init__(f"{where}: {message}")


class DevStackError(ScytheError, RuntimeError):
    """A service of the local dev stack failed to build, start or become ready."""


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C during a run: still an interrupt (exit 130), carrying how to carry on."""

    def __init__(self, prefix: str, store: str) -> None:
        self.prefix = prefix
        self.store = store
        super().__init__(f"scythe resume {prefix} --store {store}")

    @property
    def resume_command(self) -> str:
        return str(self.args[0])
