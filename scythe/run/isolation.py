"""Crash isolation and hard timeouts: a batch's specs run in spec processes that the task watches.

Spec processes are kept and handed batch after batch (`scythe.run.spec_pool`): an embedded pool
process or a Slurm array element has one; a Hatchet worker's task threads share one per core, each
batch spreading its specs over every process no other batch holds. Before each attempt a spec
process writes the position of its spec and the attempt's start time into its own two-number
board, so whatever happens the task knows which spec was running:
- the process dies (segfault, `os._exit`, the OOM killer): that spec is recorded as `WorkerDied`
  (`signal 11 (SIGSEGV)`, `exit code 1`), and a new process runs the rest of the batch;
- an attempt runs past its hard limit (user code that swallowed the in-process alarm, C code that
  never returns to Python): the process is killed, the spec recorded as `Timeout`, the rest runs.
Outcomes travel in bundles (every `FLUSH_SECONDS`), so a death costs at most that much finished
work, which the next process redoes. Bundles are plain tuples (pickling 1,000 outcomes: 0.44 ms,
3.2 ms as dataclasses); a process is started once, not once per batch.
The spec process ignores SIGINT: Ctrl-C interrupts the task, which kills its spec process.
A single-threaded task process may run a stream of batches (`run_stream`, the embedded backend's
lanes): each batch's jobs are dealt as the last of the previous one's are, so its processes never
wait for a batch's slowest spec or its commit.
"""

from __future__ import annotations

import contextlib
import faulthandler
import io
import os
import select
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.context import ForkContext, ForkServerContext
from multiprocessing.process import BaseProcess
from typing import Any

from scythe.errors import ScytheError
from scythe.run.execute import SpecJob, SpecOutcome
from scythe.run.spec_pool import SpecPool
from scythe.run.timings import worker_id

FLUSH_SECONDS = 0.05  # the most finished work a dying spec process can take with it
POLL_SECONDS = 0.5  # how often the task looks at the board between messages
IDLE = -1.0
STOP = "stop"  # to a spec process mid-request: end the request after the spec you are on

RunOne = Callable[[SpecJob, Callable[[], None]], SpecOutcome]
"""Runs one job in the spec process; calls its second argument at the start of every attempt."""
Handler = Callable[..., None]
"""Runs a request in the spec process: `handler(*args, jobs, conn, board)`, ending with `child_loop`."""


@dataclass
class _SpecProcess:
    """The task's end of one spec process."""

    process: BaseProcess
    conn: Connection
    board: Any
    owner: int  # the pid that started it: a forked task process must not use its parent's

    def usable(self) -> bool:
        return self.owner == os.getpid() and self.process.is_alive()

    def stop(self) -> None:
        if self.owner == os.getpid():
            if self.process.is_alive():
                self.process.kill()
            self.process.join()
        self.conn.close()

    def forget(self) -> None:
        """Drop this end without touching the process: a forked child's copy of its parent's."""
        self.conn.close()


def _start() -> _SpecProcess:
    ctx = context()
    mine, theirs = ctx.Pipe(duplex=True)
    board = ctx.RawArray("d", [IDLE, 0.0])
    process = ctx.Process(target=_serve, args=(theirs, board), daemon=True)
    process.start()
    theirs.close()  # the spec process holds the only other end: its death closes the pipe
    return _SpecProcess(process, mine, board, os.getpid())


_pool: SpecPool[_SpecProcess] = SpecPool(_start)  # this process's spec processes, one by default
_threaded = False  # set by `use_processes`: spec processes always come from the fork server


def _after_fork() -> None:
    global _pool
    _pool = _pool.forked()


os.register_at_fork(after_in_child=_after_fork)


def use_processes(n: int) -> None:
    """Share `n` spec processes between this process's task threads (a Hatchet worker: one per
    core), all from the fork server (gRPC and task threads must never be forked), started now."""
    global _threaded
    _threaded = True
    _pool.resize(n)
    _pool.warm()


def spread_over(n: int) -> None:
    """Give this single-threaded process `n` spec processes, forked from it and started now (an
    embedded task process with more slots than cores: `scythe.backends.embedded.lanes`)."""
    _pool.resize(n)
    _pool.warm()


def run_isolated(
    jobs: list[SpecJob],
    handler: Handler,
    args: tuple[Any, ...],
    *,
    hard_limit: float,
    on_log: Callable[[str], None],
) -> dict[int, SpecOutcome]:
    """Every job's outcome by position, whatever the specs do to their processes."""
    return _Spread(jobs, (handler, args), hard_limit, lambda _, text: on_log(text)).run()


@dataclass
class Stream:
    """Groups of jobs (a lane's batches) run back to back on the same spec processes.

    `more()` gives the next group's jobs (None: no more); it is asked once every job of the
    groups in flight has been dealt, at most one group ahead, so a process that runs out of its
    group's work starts on the next group's while the last specs of its own still run.
    `on_log(group, text)` takes what a group's specs logged; `done(group, outcomes)` each group's
    outcomes by position as its last arrives, groups numbered from 0 in the order `more` gave them."""

    more: Callable[[], list[SpecJob] | None]
    on_log: Callable[[int, str], None]
    done: Callable[[int, dict[int, SpecOutcome]], None]


def run_stream(stream: Stream, handler: Handler, args: tuple[Any, ...], *, hard_limit: float) -> None:
    """Run every group `stream` gives, as `run_isolated` runs one."""
    _Spread([], (handler, args), hard_limit, stream.on_log, stream).run()


@dataclass
class _Lease:
    """A spec process a batch holds: its home (held to the end) or borrowed (handed back early)."""

    process: _SpecProcess
    home: bool
    jobs: list[SpecJob] = field(default_factory=list)  # the request in flight; [] when idle
    done: int = 0  # of `jobs`, those whose outcomes have arrived
    stopping: bool = False  # sent STOP: it ends the request after the spec it is on


GROUP_BITS = 32  # in a stream, group g's job at position i runs as position g << 32 | i
_IN_GROUP = (1 << GROUP_BITS) - 1


def _group(position: int) -> int:
    return position >> GROUP_BITS


class _Spread:
    """One batch's jobs over its home process and whatever idle processes it can borrow.

    Each process gets a contiguous part of what is queued, sized for every process the batch's fair
    share allows (processes it borrows later take what is left); when a process falls idle with
    nothing queued, the request with most specs left is stopped (after its current spec) and what
    it had not started is split again. A batch waiting for a home process makes every batch stop and
    hand back what it borrowed. With one process (the embedded backend) the whole batch is one
    request, as before: no stops, no splits.
    """

    def __init__(
        self,
        jobs: list[SpecJob],
        request: tuple[Handler, tuple[Any, ...]],
        hard_limit: float,
        on_log: Callable[[int, str], None],
        stream: Stream | None = None,
    ) -> None:
        self.queue: list[SpecJob] = []  # not yet sent to a process, in order
        self.by_position: dict[int, SpecJob] = {}
        self.request = request
        self.hard_limit = hard_limit
        self.on_log = on_log
        self.outcomes: dict[int, SpecOutcome] = {}
        self.leases: list[_Lease] = []
        self.watch = _Watch()
        self.stream = stream
        self.members: dict[int, list[int]] = {}  # each group in flight: its jobs' positions
        self.left: dict[int, int] = {}  # … and how many of them have no outcome yet
        self.closed: set[int] = set()  # groups whose outcomes went to `stream.done`
        self.exhausted = stream is None
        if stream is None:
            self._add(jobs)

    def _add(self, jobs: list[SpecJob]) -> None:
        group = len(self.members) + len(self.closed)
        if group:
            jobs = [SpecJob(group << GROUP_BITS | job.position, job.row, job.index) for job in jobs]
        self.queue += jobs
        self.by_position.update((job.position, job) for job in jobs)
        self.members[group] = [job.position for job in jobs]
        self.left[group] = len(jobs)
        if not jobs and self.stream is not None:
            self._close(group)

    def _refill(self) -> None:
        """A stream's next group, once every job of those in flight is dealt (one group ahead)."""
        if self.stream is None or self.exhausted or self.queue or len(self.left) > 1:
            return
        jobs = self.stream.more()
        if jobs is None:
            self.exhausted = True
        else:
            self._add(jobs)

    def _take(self, outcome: SpecOutcome) -> None:
        if outcome.position not in self.outcomes:
            self.left[_group(outcome.position)] -= 1
        self.outcomes[outcome.position] = outcome
        group = _group(outcome.position)
        if self.stream is not None and not self.left[group]:
            self._close(group)

    def _close(self, group: int) -> None:
        """Hand a finished group's outcomes, at their own positions, to the stream."""
        positions = self.members.pop(group)
        del self.left[group]
        self.closed.add(group)
        outcomes = {}
        for position in positions:
            outcome = self.outcomes.pop(position)
            del self.by_position[position]
            outcome.position = position & _IN_GROUP
            outcomes[outcome.position] = outcome
        assert self.stream is not None
        self.stream.done(group, outcomes)

    def _has_outcome(self, position: int) -> bool:
        return position in self.outcomes or _group(position) in self.closed

    def run(self) -> dict[int, SpecOutcome]:
        self.leases.append(_Lease(_pool.acquire(), home=True))
        try:
            while self._rebalance():
                self._step()
        except BaseException:
            for lease in self.leases:
                _pool.give_back(lease.process, keep=False)
            raise
        finally:
            _pool.leave()
        for lease in self.leases:
            _pool.give_back(lease.process, keep=True)
        return self.outcomes

    def _rebalance(self) -> bool:
        """Borrow or hand back processes and send the queue to idle ones; False once all is done."""
        self._refill()
        share = _pool.share()
        if _pool.wanted():  # a batch waits for a home: what this one borrowed goes back
            for lease in [lease for lease in self.leases if not lease.home]:
                if lease.jobs:
                    self._stop(lease)
                else:
                    self._hand_back(lease)
        else:  # borrow, up to a fair share, while there are more specs left than processes held
            while len(self.leases) < share and self._left() > len(self.leases):
                process = _pool.borrow()
                if process is None:
                    break
                self.leases.append(_Lease(process, home=False))
            self._shed(len(self.leases) - share)
        self._deal(max(len(self.leases), min(share, self._left())))
        busy = [lease for lease in self.leases if lease.jobs]
        if self.queue:  # dealt for processes not held yet: they take it when they come
            return True
        if len(busy) < len(self.leases) and not any(lease.stopping for lease in busy):
            victim = max(busy, key=self._left_in, default=None)  # split the request with most left
            if victim is not None and self._left_in(victim) >= 2:
                self._stop(victim)
            else:  # nothing to split: idle borrowed processes go back
                for lease in [lease for lease in self.leases if not lease.jobs and not lease.home]:
                    self._hand_back(lease)
        return bool(busy) or not self.exhausted

    def _deal(self, expected: int) -> None:
        """Send idle processes their part of the queue, dealt over `expected` processes: those held,
        busy or idle, and those the fair share may still bring. Dealt over the idle ones only, the
        first of two batches arriving together got its whole queue on the few processes idle then,
        and the processes it borrowed later waited for requests to be split one stop at a time:
        1,023 × 0.5 s on 256 processes in 2 batches ran on 107–127 of them (6–8 s, ideal 2 s)."""
        part = -(-len(self.queue) // max(1, expected))  # busy ones take theirs when they are done
        for lease in [lease for lease in self.leases if not lease.jobs]:
            if not self.queue:
                break
            take = self.queue[:part]
            group = _group(take[0].position)  # a request holds one group's jobs: its logs are that group's
            take = take[: next((i for i, job in enumerate(take) if _group(job.position) != group), len(take))]
            lease.process.conn.send((*self.request, take))
            lease.jobs, lease.done, self.queue = take, 0, self.queue[len(take) :]

    def _shed(self, excess: int) -> None:
        """Give back `excess` borrowed processes (more batches now share the pool): idle ones at
        once, busy ones after the spec they are on (only while no other stop is in flight)."""
        borrowed = [lease for lease in self.leases if not lease.home]
        for lease in [lease for lease in borrowed if not lease.jobs][:excess]:
            self._hand_back(lease)
            excess -= 1
        if excess > 0 and not any(lease.stopping for lease in borrowed):
            for lease in [lease for lease in borrowed if lease.jobs][:excess]:
                self._stop(lease)

    def _hand_back(self, lease: _Lease) -> None:
        self.leases.remove(lease)
        _pool.give_back(lease.process, keep=True)

    def _left(self) -> int:
        return len(self.queue) + sum(self._left_in(lease) for lease in self.leases)

    def _left_in(self, lease: _Lease) -> int:
        """Specs of the lease's request not started yet (one is running). Counted as outcomes
        arrive, not looked up: done per message, the look-up was a fifth of a task's CPU with
        32 processes of 10 ms specs."""
        return max(0, len(lease.jobs) - lease.done - 1)

    def _stop(self, lease: _Lease) -> None:
        if lease.jobs and not lease.stopping:
            lease.stopping = True
            with contextlib.suppress(OSError):  # already dead: `_step` finds out
                lease.process.conn.send(STOP)

    def _step(self) -> None:
        """Take what arrives within POLL_SECONDS; give up on processes that died or overran."""
        busy = [lease for lease in self.leases if lease.jobs]
        ends, ready = self.watch.ready(busy, POLL_SECONDS)
        for lease, (conn, sentinel) in zip(busy, ends, strict=True):
            if conn in ready:
                self._receive(lease)
            elif sentinel in ready:
                self._lost(lease, _died(lease.process.process, lease.process.board))
            else:
                position, started = lease.process.board[0], lease.process.board[1]
                if position != IDLE and time.monotonic() - started > self.hard_limit:
                    self._lost(lease, _timed_out(int(position), self.hard_limit))

    def _receive(self, lease: _Lease) -> None:
        try:
            message = lease.process.conn.recv()
        except (EOFError, ConnectionResetError):  # the pipe closed before the request was done
            self._lost(lease, _died(lease.process.process, lease.process.board))
            return
        if message is None:
            self._requeue(lease)
            return
        bundle, log = message
        lease.done += len(bundle)  # a process's bundles are of its request in flight only
        if log:  # before the outcomes: the last of them may close the group
            self.on_log(_group(lease.jobs[0].position), log)
        for packed in bundle:
            self._take(SpecOutcome(*packed))

    def _requeue(self, lease: _Lease) -> None:
        """The lease's request is over: what it did not run goes back to the front of the queue."""
        self.queue[:0] = [job for job in lease.jobs if not self._has_outcome(job.position)]
        lease.jobs, lease.done, lease.stopping = [], 0, False

    def _lost(self, lease: _Lease, culprit: SpecOutcome) -> None:
        """The lease's process is given up on: the culprit's outcome; a home gets a new process."""
        if culprit.error is not None:
            index = self.by_position[culprit.position].index
            ended, spent = time.time(), time.monotonic() - lease.process.board[1]  # its last attempt
            self._take(
                SpecOutcome(
                    culprit.position,
                    error={**index, **culprit.error},
                    seconds=round(spent, 6),
                    started=ended - spent,
                    finished=ended,
                    attempts=1,
                    worker=worker_id(lease.process.process.pid),
                )
            )
        self._requeue(lease)
        if lease.home:
            lease.process = _pool.replace(lease.process)
        else:
            self.leases.remove(lease)
            _pool.give_back(lease.process, keep=False)


class _Watch:
    """poll(2) over the busy processes' pipes and exit sentinels, registered once per set of
    processes. `multiprocessing.connection.wait` registers every descriptor anew on each call:
    with 32 processes of 10 ms specs, 1,300 calls a second of 64 registrations each, a third of
    the task process's CPU."""

    def __init__(self) -> None:
        self.key: list[tuple[int, int, int]] = []
        self.poll = select.poll()

    def ready(self, busy: list[_Lease], timeout: float) -> tuple[list[tuple[int, int]], set[int]]:
        """The (pipe, sentinel) descriptors of each busy lease, and those of them ready (data, a
        closed pipe, an exited process) within `timeout` seconds."""
        key = [
            (id(lease.process), lease.process.conn.fileno(), lease.process.process.sentinel) for lease in busy
        ]
        if key != self.key:
            self.poll = select.poll()
            for _, conn, sentinel in key:
                self.poll.register(conn, select.POLLIN)
                self.poll.register(sentinel, select.POLLIN)
            self.key = key
        ready = {fd for fd, _ in self.poll.poll(timeout * 1000)}  # any event: data, hang-up, error
        return [(conn, sentinel) for _, conn, sentinel in key], ready


def _died(process: BaseProcess, board: Any) -> SpecOutcome:
    process.join(5)
    code = process.exitcode
    position = int(board[0])
    if position == IDLE:
        raise ScytheError(f"the spec process died before running a spec ({_cause(code)})")
    return SpecOutcome(position, error=_error("WorkerDied", f"the spec's process died: {_cause(code)}"))


def _timed_out(position: int, hard_limit: float) -> SpecOutcome:
    message = f"the spec ran longer than its timeout (hard limit {hard_limit:g} s): its process was killed"
    return SpecOutcome(position, error=_error("Timeout", message))


def _cause(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = "unknown"
        return f"signal {-code} ({name})"
    return f"exit code {code}"


def _error(kind: str, message: str) -> dict[str, Any]:
    return {"error_type": kind, "message": message, "traceback": "", "attempts": 1}


# ---------------------------------------------------------------------------------------------
# the spec process's side


def _serve(conn: Connection, board: Any) -> None:
    """The spec process: run requests until the task goes away (its end of the pipe closes)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    faulthandler.disable()  # a crashing spec is reported as WorkerDied, not dumped on the terminal
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        if request == STOP:  # sent as its request ended: nothing left to stop
            continue
        handler, args, jobs = request
        handler(*args, jobs, conn, board)


def child_loop(jobs: list[SpecJob], run_one: RunOne, conn: Connection, board: Any, log: io.StringIO) -> None:
    """Run `jobs` in order, marking the board before each attempt, sending outcomes in bundles
    with what the specs logged or printed (into `log`) since the last bundle; then None. A STOP
    from the task (looked for at each bundle, so never a cost per spec) ends it early."""
    bundle: list[tuple[Any, ...]] = []  # plain tuples: a seventh of a dataclass's pickling cost
    last = time.monotonic()
    with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        for job in jobs:

            def mark(position: float = float(job.position)) -> None:
                board[1] = time.monotonic()
                board[0] = position

            began = time.perf_counter()
            done = run_one(job, mark)
            spent = time.perf_counter() - began
            bundle.append(
                (
                    *(done.position, done.scalars, done.file_refs, done.frames, done.error, done.refused),
                    *(spent, done.started, done.finished, done.attempts, done.worker),
                )
            )
            board[0] = IDLE
            if time.monotonic() - last >= FLUSH_SECONDS:
                conn.send((bundle, _drain(log)))
                bundle, last = [], time.monotonic()
                if conn.poll() and conn.recv() == STOP:
                    break
    conn.send((bundle, _drain(log)))
    conn.send(None)


def _drain(log: io.StringIO) -> str:
    text = log.getvalue()
    log.seek(0)
    log.truncate()
    return text


def preload(modules: list[str]) -> None:
    """Import `modules` once in the fork server, so each spec process starts warm (a Hatchet
    worker calls this with its experiments' modules before serving)."""
    ForkServerContext().set_forkserver_preload(["scythe.run.task", *modules, "scythe.run.frozen"])


def context() -> ForkContext | ForkServerContext:
    """fork where it is safe (a single-threaded task process); forkserver where threads run
    (a Hatchet worker's slots and gRPC threads must not be forked mid-flight)."""
    if threading.active_count() == 1 and not _threaded:
        return ForkContext()
    return ForkServerContext()
