"""`python -m scythe` is the `scythe` command."""

from scythe.cli import app

app()
