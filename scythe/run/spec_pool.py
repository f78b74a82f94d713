"""The spec processes of one task process, shared by its task threads.

A Hatchet worker runs its batch tasks in threads of one process and at most `size` spec processes
(`scythe worker --processes`, default one per core). Each batch holds one process for as long as it
runs (its *home*, waited for while every process is held) and borrows idle ones to spread its specs
over (`scythe.run.isolation`), handing them back as soon as another batch waits. So a worker whose
batches are fewer than its cores (a run's last wave, a user's large `batch_size`, one slow batch)
still keeps every core busy, and one with more slots than processes never runs more spec processes
than cores. The embedded backend's task processes keep a size of 1: one spec process each.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar


class _Process(Protocol):
    def usable(self) -> bool: ...
    def stop(self) -> None: ...
    def forget(self) -> None: ...


P = TypeVar("P", bound=_Process)


class SpecPool(Generic[P]):
    """At most `size` processes made by `start`, shared between threads; thread-safe."""

    def __init__(self, start: Callable[[], P], size: int = 1) -> None:
        self._start = start
        self.size = size
        self._idle: list[P] = []
        self._alive = 0  # started and not given up: idle + held
        self._waiting = 0  # threads blocked in `acquire`
        self._homes = 0  # batches holding a home process (acquired, not yet `leave`n)
        self._lock = threading.Condition()

    def resize(self, size: int) -> None:
        """Allow `size` processes from now on (held ones above it stop when given back)."""
        with self._lock:
            self.size = max(1, size)
            self._lock.notify_all()

    def acquire(self) -> P:
        """A process for a batch's whole run, waiting while all `size` are held."""
        with self._lock:
            self._waiting += 1
            try:
                while not self._idle and self._alive >= self.size:
                    self._lock.wait()
            finally:
                self._waiting -= 1
            found = self._take()
            self._homes += 1
        try:
            return self._ready(found)
        except BaseException:
            self.leave()
            raise

    def leave(self) -> None:
        """A batch that `acquire`d is done: its home no longer counts towards the fair share."""
        with self._lock:
            self._homes = max(0, self._homes - 1)

    def share(self) -> int:
        """Processes a batch may hold while others run: an equal part of `size` for each batch
        holding a home or waiting for one (all of them for a batch alone). Without it the first
        of two batches that arrive a second apart (Hatchet dispatches in ticks) borrows every
        process and the second runs its specs on one: measured, 1,023 × 0.5 s on 256 processes
        in 2 batches took 8–11 s of a 2 s ideal."""
        with self._lock:
            return max(1, -(-self.size // max(1, self._homes + self._waiting)))

    def borrow(self) -> P | None:
        """An idle process (or a new one, below `size`) unless a batch waits for one: never blocks."""
        with self._lock:
            if self._waiting or (not self._idle and self._alive >= self.size):
                return None
            found = self._take()
        return self._ready(found)

    def wanted(self) -> bool:
        """Whether a batch waits for a process: borrowed ones should come back."""
        with self._lock:
            return self._waiting > 0

    def give_back(self, process: P, *, keep: bool) -> None:
        """Return a held process: kept for the next batch, or (`keep=False`, or above `size`) stopped."""
        with self._lock:
            keep = keep and self._alive <= self.size and process.usable()
            if keep:
                self._idle.append(process)
            else:
                self._alive -= 1
            self._lock.notify()
        if not keep:
            process.stop()

    def replace(self, process: P) -> P:
        """A fresh process in place of a dead or killed one: its holder keeps its place."""
        process.stop()
        return self._ready(None)

    def warm(self) -> None:
        """Start every process now, before the first batch needs one (each takes ~50 ms)."""
        started = []
        while (borrowed := self.borrow()) is not None:
            started.append(borrowed)
        for process in started:
            self.give_back(process, keep=True)

    def close(self) -> None:
        """Stop the idle processes (held ones stop when given back)."""
        with self._lock:
            idle, self._idle = self._idle, []
            self._alive -= len(idle)
            self._lock.notify_all()
        for process in idle:
            process.stop()

    def forked(self) -> SpecPool[P]:
        """The pool a forked child starts with: the same size, none of its parent's processes."""
        for process in self._idle:
            process.forget()
        return SpecPool(self._start, self.size)

    def _take(self) -> P | None:
        if self._idle:
            return self._idle.pop()
        self._alive += 1  # a place taken now, its process started outside the lock
        return None

    def _ready(self, found: P | None) -> P:
        if found is not None and found.usable():
            return found
        if found is not None:  # died while idle: replaced in its place
            found.stop()
        try:
            return self._start()
        except BaseException:
            with self._lock:
                self._alive -= 1
                self._lock.notify()
            raise
