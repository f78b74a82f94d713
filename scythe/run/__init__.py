"""The life of a run, in the order it happens.

    allocation   design → validated specs → the run's files in the store → the backend (steps 1–4)
    batching     how many specs a batch holds, from the slots and spec time (`Capacity`, `plan`)
    features     computed_features, derived once per spec at allocation
    staging      chunked validation and the writing of specs.pq, batch inputs, schemas, manifest
    reuse        --reuse: specs an earlier run of the version already computed, copied not run
    rerun        resume --failed: a new run of a run's failed specs, its successes reused
    layout       where each file of a run lives in a store, and how runs are named
    versions     which version a run is stored under (and which Scythe wrote it)
    manifest     manifest.yml: what a run is, written last
    artifacts    input files: uploaded once at allocation, fetched once per worker machine
    task         one batch of specs through the experiment, committed as one shard (step 5)
    execute      one spec: validation, attempts, timeout, its outputs (in its spec process)
    isolation    spec processes a batch spreads over; crashes and overruns fail only their spec
    spec_pool    the spec processes of one worker, shared fairly between its batches
    frozen       the fork server's last import: warm S3 model, gc.freeze (cheap spec processes)
    frames       a spec's DataFrame outputs as shards
    timings      when and where each spec ran (final/timings.pq)
    spec_logs    what each spec printed and logged, one section per spec in its batch's log.txt
    commits      commit records: what each batch produced, which batches are done
    gather       committed shards → final/*.pq, streamed (step 6)

Every backend runs the same `task` and `gather`, so a run's files do not depend on where it ran.
May import: `scythe.specs`, `scythe.registry`, `scythe.design`, `scythe.store`, `scythe.settings`,
`scythe.errors`, and `scythe.backends` (allocation hands the run to one); never `scythe.cli`,
`scythe.project`, `scythe.dev` or `scythe.compat`.
"""
