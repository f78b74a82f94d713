"""The worker entrypoint (the image's ENTRYPOINT): serves this project's experiment to Hatchet.

Configured by SCYTHE_WORKER_SLOTS, SCYTHE_WORKER_NAME and HATCHET_CLIENT_* environment variables
(see .env.example); the same as `scythe worker` inside this project.
"""

from __future__ import annotations

from scythe.backends.hatchet.worker import serve
from scythe.errors import ScytheError

from building_energy import experiment  # noqa: F401  (registers the experiment)


def main() -> None:
    """Start a worker; it blocks until stopped."""
    try:
        serve()
    except ScytheError as exc:
        raise SystemExit(f"error: {exc}") from None


if __name__ == "__main__":
    main()
