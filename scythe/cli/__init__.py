"""The `scythe` command, thin: each command parses its options, calls the runtime, renders the answer.

`app` (in `scythe.cli.app`) holds the shared pieces; each module below adds one group of
commands, imported in the order `scythe --help` lists them (a run's life, then its results, then
the project tooling, then the local stack). Heavy libraries (pandas, pyarrow, hatchet_sdk) are
imported inside the commands that need them, so `scythe --help` starts in a fraction of a second.
May import: anything in `scythe` (it is the top of the stack); nothing in the runtime imports it.
"""

# The import order is the order of `scythe --help`.
# isort: off
from scythe.cli.app import app
from scythe.cli import run, status, results, logs, project, dev

# isort: on

__all__ = ["app", "dev", "logs", "project", "results", "run", "status"]
