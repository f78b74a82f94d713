"""The worker entrypoint (Hatchet backend): serves this project's experiments."""

from __future__ import annotations

from building_energy import experiment  # noqa: F401  (registers the experiment)
from scythe.worker import ScytheWorkerConfig


def main() -> None:
    ScytheWorkerConfig().start()


if __name__ == "__main__":
    main()
