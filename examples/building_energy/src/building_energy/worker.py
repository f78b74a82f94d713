"""The worker entrypoint (the image's ENTRYPOINT): serves this project's experiment to Hatchet.

Configured by SCYTHE_WORKER_* and HATCHET_CLIENT_* environment variables (see .env.example).
"""

from __future__ import annotations

from scythe.errors import ScytheError
from scythe.worker import ScytheWorkerConfig

from building_energy import experiment  # noqa: F401  (registers the experiment)


def main() -> None:
    """Start a worker; it blocks until stopped."""
    try:
        ScytheWorkerConfig().start()
    except ScytheError as exc:
        raise SystemExit(f"error: {exc}") from None


if __name__ == "__main__":
    main()
