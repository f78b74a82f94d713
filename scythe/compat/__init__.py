"""The scythe-engine surface, kept thin over Scythe's own API so upstream code runs unchanged.

Upstream's import paths (`scythe.base`, `scythe.experiments`, `scythe.worker`,
`scythe.scatter_gather`, `scythe.utils.filesys`) are one-line re-exports of the modules here.
What upstream offers and Scythe can honour, these modules honour; an argument Scythe cannot honour
raises `ScytheError` naming it, never silently does nothing. Nothing in Scythe imports this package.
May import: the public runtime (`scythe.specs`, `scythe.registry`, `scythe.run`, `scythe.backends`,
`scythe.results`).
"""
