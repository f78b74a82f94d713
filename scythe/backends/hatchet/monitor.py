"""Watching a run that executes elsewhere (Hatchet): progress from the store, the rest from Hatchet.

The store is the source of truth for what is done (commit records); Hatchet is asked only what
the store cannot know: whether the run's tasks wait for a worker, run, or were given up. A wait
always ends: once no task of the run is queued or running and it is not gathered, the watcher
raises naming what Hatchet gave up on, or, when nothing was given up (a trigger was lost),
triggers what is missing, as `scythe resume` would. An engine that stops answering (restarting,
its database restarting) is said once and waited for: the store keeps the progress meanwhile.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from hatchet_sdk import Hatchet

from scythe.backends.base import TaskCounts
from scythe.backends.hatchet import client
from scythe.backends.hatchet.tasks import gathering_batch
from scythe.backends.progress import spec_progress
from scythe.errors import BackendError
from scythe.run.commits import GatherSummary, RunProgress, missing_batches, store_progress
from scythe.run.layout import FINAL_SUMMARY, RunRef
from scythe.run.manifest import Manifest
from scythe.store import Store

POLL_SECONDS = 0.2  # one HEAD for the gather summary: the latency after the run is done
PROGRESS_SECONDS = 2.0  # one LIST of commit records: the progress bar
QUEUED_CHECK_SECONDS = 3.0  # Hatchet is asked this often until a worker has taken a batch
HATCHET_CHECK_SECONDS = 15.0  # … and this often afterwards (three metric queries each time)
STALL_SECONDS = 30.0  # nothing queued or running, nothing given up, not gathered: re-trigger
QUEUED = "queued: no worker has taken a task yet; the run waits for one (`scythe worker` starts one)"
TAKEN = "a worker took the run's first task"

Say = Callable[[str], None]


def wait_for_gather(
    store: Store, run: RunRef, manifest: Manifest, *, progress: bool, hatchet: Hatchet | None = None
) -> GatherSummary:
    """Block until the run's gather (in its last batch or a gather task) has written its summary;
    raise if Hatchet gave up on it.

    With `progress`, says once (on stderr) that the run is queued when no worker has taken any of
    its batches about 3 s after the wait began (and when one does), and once per outage that the
    engine is unreachable.
    """
    engine = hatchet or client.connect()
    gathered = run.key(FINAL_SUMMARY)
    last_listing = -float("inf")
    state = RunProgress(batches_done=0, specs_done=0, gathered=False)
    with spec_progress(progress) as bar:
        task = bar.add_task(f"{run.experiment} {run.version} (hatchet)", total=manifest.n_specs, failed=0)
        say: Say = (lambda line: bar.console.print(line, highlight=False)) if progress else (lambda _: None)
        watch = RunWatch(engine, run, manifest, say)
        while not store.exists(gathered):
            now = time.monotonic()
            if now - last_listing >= PROGRESS_SECONDS:
                last_listing = now
                state = store_progress(store, run, manifest)
                bar.update(task, completed=state.specs_done)
            watch.check(store, state, now)
            time.sleep(POLL_SECONDS)
        bar.update(task, completed=manifest.n_specs)
    return GatherSummary.model_validate_json(store.get_bytes(gathered))


class RunWatch:
    """What Hatchet says of one run, asked every few seconds: the queued line, slots held for
    batches already done, and the verdict once the run has stopped moving (nothing of it queued
    or running) without being gathered."""

    def __init__(self, engine: Hatchet, run: RunRef, manifest: Manifest, say: Say) -> None:
        self.engine, self.run, self.manifest, self.say = engine, run, manifest, say
        self.next_check = time.monotonic() + QUEUED_CHECK_SECONDS  # a worker that is up takes it by then
        self.taken = False  # whether a worker has taken a batch: then the queue is not mentioned
        self.said_queued = False
        self.unreachable = False
        self.idle_since: float | None = None
        self.suspects: set[str] = set()  # running batch tasks whose batch had committed last time
        self.freed = 0  # batch tasks this watch cancelled (their batches were committed)

    def check(self, store: Store, state: RunProgress, now: float) -> None:
        if now < self.next_check:
            return
        if not self.taken and state.batches_done > 0:
            # The store shows a worker took the run: nothing to say about the queue, and Hatchet
            # is first asked a whole check later. Its three metric queries at 3 s, when most
            # short runs end, cost 0.27 s of a 10,000-spec run's 3.2-3.5 s on 2 cores.
            self._taken()
            self.next_check = now + HATCHET_CHECK_SECONDS
            return
        self.next_check = now + (HATCHET_CHECK_SECONDS if self.taken else QUEUED_CHECK_SECONDS)
        try:
            tasks = client.run_tasks(self.engine, self.run, self.manifest.created_at)
            if tasks.batch.running:
                self._free_stuck(store)
        except Exception as exc:  # any gRPC/HTTP failure: the store still shows progress
            self._unreachable(exc)
            return
        if self.unreachable:
            self.unreachable = False
            self.say("the Hatchet engine answers again")
        if not self.taken:
            if tasks.batches_taken():
                self._taken()
            elif not self.said_queued and not tasks.given_up():
                self.said_queued = True
                self.say(QUEUED)
        self._verdict(store, state, tasks, now)

    def _taken(self) -> None:
        self.taken = True
        if self.said_queued:
            self.say(TAKEN)

    def _unreachable(self, exc: Exception) -> None:
        if not self.unreachable:
            self.say(f"the Hatchet engine is unreachable ({client.describe(exc)[:200]}); waiting for it")
        self.unreachable = True

    def _free_stuck(self, store: Store) -> None:
        """Cancel batch tasks Hatchet still counts as running a whole check after their batch
        committed: the engine lost their completion (with its database down it refuses the
        event as invalid, and the SDK drops it), so each would hold a worker slot until its
        execution timeout, an hour or more. Their results are in the store either way. Once every
        batch has committed, the batch that claimed the gather is gathering, not stuck."""
        running = client.running_batches(self.engine, self.run, self.manifest.created_at)
        missing = set(missing_batches(store, self.run, self.manifest)) if running else set()
        done = {task for task, batch in running.items() if batch not in missing}
        if running and not missing:
            gathering = gathering_batch(store, self.run)
            done = {task for task in done if running[task] != gathering}
        stuck = sorted(done & self.suspects)
        self.suspects = done - set(stuck)
        if stuck:
            client.cancel_tasks(self.engine, stuck)
            self.freed += len(stuck)
            self.say(f"freed {len(stuck)} worker slot(s) Hatchet held for batches already committed")

    def _verdict(self, store: Store, state: RunProgress, tasks: client.RunTasks, now: float) -> None:
        """Idle twice in a row (HATCHET_CHECK_SECONDS apart, past the engine's status lag): raise
        if Hatchet gave up on what the run still needs; idle for STALL_SECONDS with nothing
        given up (a trigger was lost): trigger what is missing, as `scythe resume` would."""
        if tasks.live() or state.gathered:
            self.idle_since = None
            return
        if self.idle_since is None:
            self.idle_since = now
            return
        blocking = self._blocking(tasks, state)
        if blocking and now - self.idle_since >= HATCHET_CHECK_SECONDS:
            raise BackendError(self._given_up(tasks))
        if not blocking and now - self.idle_since >= STALL_SECONDS:
            self.idle_since = now
            missing = missing_batches(store, self.run, self.manifest)
            try:
                if missing:
                    client.trigger_batches(self.engine, self.run, missing)
                else:
                    client.trigger_gather(self.engine, self.run)  # gather is idempotent
            except Exception as exc:
                self._unreachable(exc)

    def _blocking(self, tasks: client.RunTasks, state: RunProgress) -> int:
        """Given-up tasks the run still needs: the gather's once every batch has committed, else
        the batches' and the scatter's (less the tasks this watch cancelled itself)."""
        if state.batches_done >= self.manifest.n_batches:
            return tasks.gather.failed + tasks.gather.cancelled
        batch = tasks.batch.failed + max(0, tasks.batch.cancelled - self.freed)
        return batch + tasks.scatter.failed + tasks.scatter.cancelled

    def _given_up(self, tasks: client.RunTasks) -> str:
        parts = [
            f"{count} {kind} task(s) {what}"
            for kind, counts in (("batch", tasks.batch), ("gather", tasks.gather), ("scatter", tasks.scatter))
            for what, count in (("failed", counts.failed), ("cancelled", counts.cancelled))
            if count
        ]
        try:
            last = client.last_failure(self.engine, self.run, self.manifest.created_at)
        except Exception:
            last = ""
        return (
            f"Hatchet gave up on the run ({', '.join(parts)}; nothing is queued or running)"
            + (f", last: {last}" if last else "")
            + f"; finished batches are kept: `scythe resume {self.run.prefix}` runs the rest and gathers"
        )


def queue_counts(state: RunProgress, n_batches: int, tasks: client.RunTasks) -> TaskCounts:
    """The run's work by state, as an autoscaler needs it (`scythe status --json`).

    `completed`: batches committed (the store). `running`: tasks on a worker now (batches, the
    scatter, the gather). `queued`: tasks that will need a slot: every batch neither committed,
    running nor given up (the scatter may not have triggered it yet, so a run submitted before
    any worker shows all its batches), plus the gather once every batch is committed.
    `failed`/`cancelled`: tasks Hatchet gave up on. A run Hatchet gave up on, with nothing of it
    queued or running, queues nothing until `scythe resume`.
    """
    kinds = tasks.kinds()
    running = sum(c.running for c in kinds)
    queued = 0
    if not state.gathered and not (tasks.given_up() and not tasks.live()):
        b = tasks.batch
        queued = max(n_batches - state.batches_done - b.running - b.failed - b.cancelled, b.queued, 0)
        if state.batches_done >= n_batches and tasks.gather.running == 0 and b.running == 0:
            queued += 1  # the gather to come (a batch still running may be gathering: it counts there)
    return TaskCounts(
        queued=queued,
        running=running,
        completed=state.batches_done,
        failed=sum(c.failed for c in kinds),
        cancelled=sum(c.cancelled for c in kinds),
    )
