from scythe.compat.base import *  # noqa: F403  (scythe-engine's import path)
