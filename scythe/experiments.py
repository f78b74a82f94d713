from scythe.compat.experiments import *  # noqa: F403  (scythe-engine's import path)
