from scythe.compat.scatter_gather import *  # noqa: F403  (scythe-engine's import path)
