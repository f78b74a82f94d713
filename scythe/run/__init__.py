"""The life of a run, in the order it happens.

    allocation   design → validated specs → the run's files in the store → the backend (steps 1–4)
    staging      chunked validation and the writing of specs.pq, batch inputs, schemas, manifest
    layout       where each file of a run lives in a store, and how runs are named
    versions     which version a run is stored under (and which Scythe wrote it)
    manifest     manifest.yml: what a run is, written last
    artifacts    input files: uploaded once at allocation, fetched once per worker machine
    task         one batch of specs through the experiment, committed as one shard (step 5)
    commits      commit records: what each batch produced, which batches are done
    gather       committed shards → final/*.pq, streamed (step 6)

Every backend runs the same `task` and `gather`, so a run's files do not depend on where it ran.
May import: `scythe.specs`, `scythe.registry`, `scythe.design`, `scythe.store`, `scythe.settings`,
`scythe.errors`, and `scythe.backends` (allocation hands the run to one); never `scythe.cli`,
`scythe.project`, `scythe.dev` or `scythe.compat`.
"""
