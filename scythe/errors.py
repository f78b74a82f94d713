"""Errors a user can cause and fix: every one of them is a `ScytheError`.

The CLI prints a `ScytheError` as one line and exits non-zero; anything else is a bug in Scythe
and keeps its traceback. Library failures a user can cause (an unreachable S3 endpoint, a Hatchet
engine that refuses the token) are translated into these where they happen, one line each.
May import: nothing from scythe (everything imports it).
"""

from __future__ import annotations

import errno as _errno
import os
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


_REMEDIES = {
    _errno.ENOSPC: "free some space",
    _errno.EDQUOT: "free some space or raise the quota",
    _errno.EROFS: "mount it read-write",
    _errno.EACCES: "give this user write access",
    _errno.EPERM: "give this user write access",
}


class StoreWriteError(StoreError):
    """The filesystem refused a write: full, over quota, read-only or not permitted.

    A run-level error, not a spec's: no later write of the run could succeed either, so the run
    stops, keeping every batch already committed. Constructed from plain values (path, errno,
    what to do next) so it survives pickling from a worker process to the one that reports it.
    """

    def __init__(self, path: str, code: int, then: str = "then run again") -> None:
        super().__init__(path, code, then)
        self.path, self.code, self.then = path, code, then

    def __str__(self) -> str:
        cause = os.strerror(self.code)
        cause = cause[:1].lower() + cause[1:]
        remedy = _REMEDIES.get(self.code, "fix that")
        return f"cannot write {self.path}: {cause} ({remedy}, {self.then})"

    def resumable(self, prefix: str, store: str) -> StoreWriteError:
        """The same refusal, saying which command carries the run on once the cause is fixed."""
        return StoreWriteError(self.path, self.code, f"then: scythe resume {prefix} --store {store}")


class DamagedBatchesError(ScytheError):
    """Committed batches whose record or shards are unreadable; they were reset, so they run again.

    Carries the batch numbers so a backend can re-run them and gather again in the same call.
    """

    def __init__(self, prefix: str, damaged: dict[int, list[str]], n_batches: int | None) -> None:
        super().__init__(prefix, damaged, n_batches)
        self.prefix, self.damaged, self.n_batches = prefix, damaged, n_batches

    @property
    def batches(self) -> list[int]:
        return sorted(self.damaged)

    @property
    def found(self) -> str:
        """What is damaged, in one line: `1 committed batch of 4 is damaged and runs again: …`."""
        listed = "; ".join(f"batch {b}: {', '.join(self.damaged[b])}" for b in self.batches)
        n = len(self.damaged)
        of = f" of {self.n_batches}" if self.n_batches is not None else ""
        plural = n != 1
        return (
            f"{n} committed batch{'es' if plural else ''}{of} {'are' if plural else 'is'} damaged "
            f"and will run again: {listed}"
        )

    def __str__(self) -> str:
        it = "them" if len(self.damaged) != 1 else "it"
        return f"{self.found}; run `scythe resume {self.prefix}` to re-run {it} and gather"


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
