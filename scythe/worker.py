from scythe.compat.worker import *  # noqa: F403  (scythe-engine's import path)
