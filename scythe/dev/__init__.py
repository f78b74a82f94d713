"""The local stack for development and tests: Postgres, SeaweedFS (S3), the Hatchet engine, Slurm.

Every server binds to 127.0.0.1 only (hatchet-lite through a patch applied when it is built), on
ports picked automatically; readiness is polled (a port, a protocol handshake, an HTTP endpoint),
never slept for. One job per module: `processes` (ports, polling, child processes, the `Service`
handle, worker processes), `engine` (building the Hatchet engine binaries with Go), `postgres`,
`seaweed` and `hatchet` (one server each), `prerequisites` (everything `scythe dev up` needs,
checked at once before anything starts), `stack` (all three together: `dev_stack` for tests,
`up`/`down` for `scythe dev`), and `slurm` (a single-node Slurm: munge, slurmctld, slurmd, recorded
and stopped through `stack`'s state folder).

An optional part of Scythe: nothing in the runtime (`scythe.run`, `scythe.store`,
`scythe.backends`, `scythe.specs`, `scythe.registry`) imports it; `scythe dev`, the integration
tests and the benchmarks do. Import the module you need; this file re-exports nothing, so importing
the package costs nothing (boto3 is imported by `stack` only).
May import: `scythe.errors`, `scythe.settings`, `scythe.extras` (nothing else from scythe).
"""
