from scythe.compat.filesys import *  # noqa: F403  (scythe-engine's import path)
