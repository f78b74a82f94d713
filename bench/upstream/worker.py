"""Upstream scythe-engine's worker serving the no-op experiment (SCYTHE_WORKER_SLOTS sets slots)."""

import experiment  # noqa: F401  (registers the experiment)

from scythe.worker import ScytheWorkerConfig

if __name__ == "__main__":
    ScytheWorkerConfig().start()
